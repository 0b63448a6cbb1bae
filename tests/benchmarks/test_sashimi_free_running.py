"""The sashimi-style baseline with a free-running camera loses frames as sashimi's would.

lightsheet's figure is the highest rate its free-running camera holds without a loss; the
baseline is measured the same way (``benchmarks/sashimi_ramp.py``), so its camera must lose a
frame that finds no free slot instead of waiting for one.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

from benchmarks.sashimi import ArrayQueue, sashimi_pipeline_gbps
from benchmarks.sashimi_ramp import ring_slots

SHAPE = (32, 32)


def test_a_put_without_waiting_fails_when_every_slot_is_taken():
    queue = ArrayQueue(mp.get_context("spawn"), 2, SHAPE, f"trytest{os.getpid()}")
    try:
        queue.attach()
        frame = np.arange(SHAPE[0] * SHAPE[1], dtype=np.uint16).reshape(SHAPE)
        assert queue.try_put(frame) and queue.try_put(frame + 1)
        assert not queue.try_put(frame + 2)  # full: the frame is lost, the call returns
        np.testing.assert_array_equal(queue.get(), frame)  # a get frees its slot
        assert queue.try_put(frame + 3)
        np.testing.assert_array_equal(queue.get(), frame + 1)
        np.testing.assert_array_equal(queue.get(), frame + 3)
    finally:
        queue.close(unlink=True)
        for inner in (queue.free, queue.full):
            inner.close()
            inner.cancel_join_thread()


def test_a_free_running_run_reports_its_rate_and_losses(tmp_path):
    result = sashimi_pipeline_gbps(tmp_path, SHAPE, planes=2, seconds=0.5, chunk_bytes=4 * 2048,
                                   rate_fps=40.0, slots=(64, 16))  # fmt: skip
    assert result["requested_fps"] == 40.0
    assert result["dropped"] == 0  # 40 small frames a second into 64 slots
    assert result["frames"] > 0 and result["achieved_fps"] > 0
    assert list(tmp_path.iterdir()) == []


def test_the_queues_hold_as_much_as_the_rings():
    frame = 2048 * 2048 * 2
    assert ring_slots(frame, 10, 640 * 2**20, 512 * 2**20) == (80, 6)
    assert ring_slots(frame, 10, 1, 1) == (2, 2)  # never fewer than two slots

"""The sashimi-style baseline with a free-running camera loses frames as sashimi's would.

lightsheet's figure is the highest rate its free-running camera holds without a loss; the
baseline is measured the same way (``benchmarks/sashimi_ramp.py``), so its camera must lose a
frame that finds no free slot instead of waiting for one.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np

from benchmarks.sashimi import ArrayQueue, sashimi_pipeline_gbps
from benchmarks.sashimi_ramp import ring_slots, zero_drop_search

SHAPE = (32, 32)


def test_a_put_without_waiting_fails_when_every_slot_is_taken():
    queue = ArrayQueue(mp.get_context("spawn"), 2, SHAPE, f"trytest{os.getpid()}")
    try:
        queue.attach()
        frame = np.arange(SHAPE[0] * SHAPE[1], dtype=np.uint16).reshape(SHAPE)
        queue.put(frame)
        queue.put(frame + 1)  # both slots taken
        assert not queue.try_put(frame + 2)  # the frame is lost, the call returns
        np.testing.assert_array_equal(queue.get(), frame)  # a get frees its slot ...
        deadline = time.monotonic() + 10.0
        while not queue.try_put(frame + 3):  # ... once its number has crossed the pipe
            assert time.monotonic() < deadline, "the freed slot never came back"
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


def _threshold(limit: float, tried: list[float]):
    def attempt(rate: float) -> bool:
        tried.append(rate)
        return rate <= limit

    return attempt


def test_the_search_rises_until_a_rate_fails_then_bisects():
    tried: list[float] = []
    passed, failed = zero_drop_search(_threshold(170.0, tried), start=125.0, refine=3)
    assert passed <= 170.0 < failed
    assert failed - passed <= 4  # 125, 143, 165, 190 (fails), then three bisections
    assert tried[:4] == [125.0, 143.0, 165.0, 190.0]


def test_a_start_that_fails_sends_the_search_down():
    tried: list[float] = []
    passed, failed = zero_drop_search(_threshold(80.0, tried), start=125.0, refine=0)
    assert tried[0] == 125.0 and passed == tried[-1] <= 80.0
    assert failed is not None and failed > 80.0


def test_a_search_in_which_nothing_fails_reports_no_limit():
    passed, failed = zero_drop_search(_threshold(1e9, []), start=10.0, refine=2)
    assert failed is None and passed > 10.0

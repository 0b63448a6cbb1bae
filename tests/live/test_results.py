"""Results reach the GUI whole: the shared-memory ring never returns a torn image, whatever
dtype and shape; the queues drop their oldest result when full and count every one dropped."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from lightsheet.processing.results import (
    LocalResultQueue,
    Result,
    ResultQueue,
    ResultRing,
    ResultTooLarge,
)
from tests.live.helpers import hammer
from tests.pipeline.rigs import our_blocks


def result(seq: int, data: np.ndarray, **fields) -> Result:
    return Result(data, seq, frame_id=10 + seq, run=2, volume=seq // 4, version=3, **fields)


@pytest.mark.parametrize(
    "data",
    [
        np.arange(12, dtype=np.uint16).reshape(3, 4),
        np.linspace(0, 1, 30, dtype=np.float32).reshape(2, 3, 5),
        np.array(0.25),  # a metric
        np.array([[True, False]]),
        np.arange(4, dtype=">i4"),  # another byte order
    ],
)
def test_ring_returns_any_dtype_and_shape_with_where_it_came_from(data):
    ring = ResultRing.create(2, 4096)
    try:
        assert ring.read_latest() is None
        ring.publish(result(0, data, frames=4, per_volume=True, frame_host_ts=5.0))
        got = ring.read_latest()
        assert got is not None
        np.testing.assert_array_equal(got.data, data)
        assert got.data.dtype == data.dtype and got.data.shape == data.shape
        assert (got.seq, got.frame_id, got.run, got.volume, got.version) == (0, 10, 2, 0, 3)
        assert got.frames == 4 and got.per_volume and got.frame_host_ts == 5.0
        assert ring.read_latest(after=got.seq) is None  # nothing newer
    finally:
        ring.close()
    assert our_blocks() == []


def test_ring_refuses_a_result_larger_than_its_slots():
    ring = ResultRing.create(2, 100)
    try:
        with pytest.raises(ResultTooLarge, match="exceeds the result slots of 100 bytes"):
            ring.publish(result(0, np.zeros(26, np.float32)))
        with pytest.raises(ResultTooLarge, match="plain numeric"):
            ring.publish(result(0, np.array(["text"])))
    finally:
        ring.close()


def test_a_slot_being_written_is_never_returned():
    ring = ResultRing.create(2, 4096)
    try:
        ring.publish(result(0, np.zeros(4)))
        ring.publish(result(1, np.ones(4)))
        ring._seq[1] += 1  # the writer is in the middle of rewriting the newest slot
        assert ring.read_latest() is None
        ring._seq[1] += 1  # and finished it
        got = ring.read_latest()
        assert got is not None and got.seq == 1
    finally:
        ring.close()


def test_stress_no_torn_image_from_a_writer_in_another_process():
    """A writer process rewrites two 2 MB slots as fast as it can; every image read must be
    filled with its own number (a torn copy would mix two)."""
    count, size = 1500, 512
    ring = ResultRing.create(2, size * size * 8)
    writer = mp.get_context("spawn").Process(target=hammer, args=(ring.spec, count, size))
    writer.start()
    try:
        read, last = 0, -1
        while writer.is_alive() or last < count - 1:
            got = ring.read_latest(after=last)
            if got is None:
                if not writer.is_alive() and ring.published == count and last == count - 1:
                    break
                continue
            assert got.seq > last
            assert int(got.data.min()) == int(got.data.max()) == got.seq, "torn image"
            last, read = got.seq, read + 1
        writer.join(30)
        assert writer.exitcode == 0
        assert read > 10 and last == count - 1
    finally:
        if writer.is_alive():
            writer.kill()
        ring.close()


def test_local_queue_drops_the_oldest_and_counts_it():
    results = LocalResultQueue(maxsize=3)
    for k in range(8):
        results.offer(result(k, np.full(2, k)))
    taken = results.take_all()
    assert [r.seq for r in taken] == [5, 6, 7] and results.dropped == 5
    source = np.zeros(2)
    results.offer(result(8, source))
    source[:] = 9  # the producer reuses its buffer: what was queued is a copy
    assert results.take_all()[0].data.tolist() == [0, 0]


def test_process_queue_drops_the_oldest_and_accounts_for_every_result():
    results = ResultQueue(maxsize=4)
    try:
        for k in range(12):
            results.offer(result(k, np.full(3, k)))
        taken = []
        while len(taken) + results.dropped < 12:
            taken += results.take_all()
        seqs = [r.seq for r in taken]
        assert seqs == sorted(seqs) and seqs[-1] == 11
        assert len(seqs) + results.dropped == 12
        # 4 waiting, and on their way up to 4 in the queue and 1 in the sender thread's hand
        assert 12 - (2 * 4 + 1) <= results.dropped <= 12 - 4
    finally:
        results.close()

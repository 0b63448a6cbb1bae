"""The shared-memory ring across real spawned processes: order, content, drops, back-pressure,
latest-only readers, end of stream, counters and cleanup."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from lightsheet.runtime.ring import PAGE, EndOfStream, Ring, RingSpec, Slot
from lightsheet.runtime.shm import SHM_DIR, list_blocks

CTX = mp.get_context("spawn")
DEADLINE_S = 30.0  # only reached when something is broken
FRAME_META = np.dtype([("frame_id", "<i8"), ("camera_ts", "<f8"), ("host_ts", "<f8")])


# -- helpers run in the test and in child processes --------------------------------------------


def stamp(slot: Slot, frame_id: int) -> None:
    """Every pixel holds the frame id, so a torn or misplaced frame is visible anywhere in it."""
    slot.data.fill(frame_id)
    slot.meta["frame_id"] = frame_id
    slot.meta["camera_ts"] = frame_id * 1e-3
    slot.meta["host_ts"] = 1000.0 + frame_id


def commit_frames(ring: Ring, frame_ids: Iterable[int]) -> None:
    """The camera's side in the test process: each frame stamped and committed at once."""
    for frame_id in frame_ids:
        slot = ring.try_acquire_write()
        assert slot is not None, "ring full"
        stamp(slot, frame_id)
        ring.commit(slot)


def check_frame(data: np.ndarray, meta: np.ndarray | np.void, frame_id: int) -> None:
    assert int(meta["frame_id"]) == frame_id
    assert float(meta["camera_ts"]) == frame_id * 1e-3
    assert float(meta["host_ts"]) == 1000.0 + frame_id
    assert data.min() == data.max() == frame_id


def consume_all(ring: Ring) -> list[int]:
    """Read until end of stream, checking each frame's content against its metadata."""
    ids = []
    while True:
        try:
            slot = ring.acquire_read(DEADLINE_S)
        except EndOfStream:
            return ids
        assert slot is not None, "producer stalled"
        frame_id = int(slot.meta["frame_id"])
        check_frame(slot.data, slot.meta, frame_id)
        ids.append(frame_id)
        ring.release(slot)


def produce_waiting(spec: RingSpec, count: int, done: mp.Event) -> None:
    with spec.attach() as ring:
        for frame_id in range(count):
            slot = ring.acquire_write(DEADLINE_S)
            if slot is None:
                raise TimeoutError(f"no free slot for frame {frame_id}")
            stamp(slot, frame_id)
            ring.commit(slot)
        ring.close_writing()
        done.set()


def produce_without_waiting(spec: RingSpec, count: int, refused: mp.Queue) -> None:
    with spec.attach() as ring:
        dropped = []
        for frame_id in range(count):
            slot = ring.try_acquire_write()
            if slot is None:
                dropped.append(frame_id)
                continue
            stamp(slot, frame_id)
            ring.commit(slot)
        ring.close_writing()
        refused.put(dropped)


def consume_in_child(spec: RingSpec, results: mp.Queue) -> None:
    with spec.attach() as ring:
        results.put(consume_all(ring))


def hold_a_slot(spec: RingSpec, holding: mp.Event, never: mp.Event) -> None:
    ring = spec.attach()
    slot = ring.acquire_write(DEADLINE_S)
    stamp(slot, 0)
    holding.set()
    never.wait(DEADLINE_S)


def report_counters(spec: RingSpec, results: mp.Queue) -> None:
    with spec.attach() as ring:
        results.put(ring.counters())


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def make_ring():
    made: list[Ring] = []

    def make(n_slots: int = 4, shape: tuple[int, ...] = (32, 32), blocking: bool = False) -> Ring:
        ring = Ring.create("ringtest", shape, "uint32", n_slots, FRAME_META, blocking)
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.close()
    names = {ring.name for ring in made}
    assert not names & set(list_blocks())


@pytest.fixture
def start():
    started: list[mp.Process] = []

    def start_process(target, *args) -> mp.Process:
        process = CTX.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    yield start_process
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(DEADLINE_S)


def finish(process: mp.Process) -> None:
    process.join(DEADLINE_S)
    assert process.exitcode == 0


# -- layout ------------------------------------------------------------------------------------


def test_every_slot_starts_on_a_page_and_keeps_its_own_metadata(make_ring):
    ring = make_ring(n_slots=3, shape=(5, 7))
    slots = [ring.try_acquire_write() for _ in range(3)]
    for frame_id, slot in enumerate(slots):
        assert slot.data.ctypes.data % PAGE == 0
        assert slot.data.shape == (5, 7) and slot.data.dtype == np.uint32
        stamp(slot, frame_id)
        ring.commit(slot)
    for frame_id in range(3):
        slot = ring.acquire_read(0)
        check_frame(slot.data, slot.meta, frame_id)
        ring.release(slot)


def test_slots_for_budget_counts_page_aligned_slots():
    assert Ring.slots_for_budget(PAGE, 10 * PAGE) == 10
    assert Ring.slots_for_budget(PAGE + 1, 10 * PAGE) == 5
    assert Ring.slots_for_budget(100 * PAGE, PAGE) == 2
    assert Ring.slots_for_budget(100 * PAGE, PAGE, minimum=3) == 3


# -- producer and consumer in different processes ----------------------------------------------


def test_frames_from_a_producer_process_arrive_in_order_with_their_content(make_ring, start):
    ring = make_ring(n_slots=3, shape=(64, 64), blocking=True)
    done = CTX.Event()
    producer = start(produce_waiting, ring.spec, 300, done)
    assert consume_all(ring) == list(range(300))
    finish(producer)
    counters = ring.counters()
    assert (counters.written, counters.committed, counters.released) == (300, 300, 300)
    assert counters.dropped == 0 and counters.fill == 0 and counters.closed


def test_blocking_producer_waits_for_the_consumer_and_loses_nothing(make_ring, start):
    ring = make_ring(n_slots=2, blocking=True)
    done = CTX.Event()
    producer = start(produce_waiting, ring.spec, 20, done)
    _poll(lambda: ring.counters().written == 2)
    # The ring is full and nothing was consumed: the producer cannot have gone on.
    assert producer.is_alive() and not done.is_set()
    assert ring.counters().fill == 2
    assert consume_all(ring) == list(range(20))
    finish(producer)
    assert ring.counters().dropped == 0


def test_blocking_acquire_times_out_without_counting_a_drop(make_ring):
    ring = make_ring(n_slots=2, blocking=True)
    for _ in range(2):
        ring.commit(ring.acquire_write(0))
    assert ring.acquire_write(0.01) is None
    assert ring.counters().dropped == 0
    with pytest.raises(RuntimeError):
        ring.try_acquire_write()
    ring.release(ring.acquire_read(0))
    assert ring.acquire_write(0) is not None


def test_full_non_blocking_ring_counts_exactly_the_frames_it_refused(make_ring, start):
    ring = make_ring(n_slots=4)
    refused_queue = CTX.Queue()
    producer = start(produce_without_waiting, ring.spec, 10, refused_queue)
    refused = refused_queue.get(timeout=DEADLINE_S)
    finish(producer)
    # Counters written by the producer process, read here in the owner.
    counters = ring.counters()
    assert refused == [4, 5, 6, 7, 8, 9]
    assert counters.dropped == len(refused)
    assert (counters.written, counters.fill, counters.capacity) == (4, 4, 4)
    assert counters.closed
    assert consume_all(ring) == [0, 1, 2, 3]


def test_a_non_blocking_ring_accepts_again_once_the_consumer_releases(make_ring):
    ring = make_ring(n_slots=2)
    commit_frames(ring, range(2))
    assert ring.try_acquire_write() is None
    ring.release(ring.acquire_read(0))
    slot = ring.try_acquire_write()
    stamp(slot, 3)
    ring.commit(slot)
    assert ring.counters().dropped == 1
    ring.close_writing()
    assert consume_all(ring) == [1, 3]


def test_peeking_shows_committed_unread_slots_and_takes_none_of_them(make_ring):
    ring = make_ring(n_slots=3)
    commit_frames(ring, range(2))
    writing = ring.try_acquire_write()  # acquired, not committed: not there yet
    peeked = [ring.peek(position) for position in range(3)]
    assert peeked[2] is None
    for frame_id in range(2):
        check_frame(peeked[frame_id].data, peeked[frame_id].meta, frame_id)
    assert ring.try_acquire_write() is None  # peeked slots are still the consumer's to read
    first = ring.acquire_read(0)
    assert (first.index, first.position) == (peeked[0].index, 0)
    assert ring.read_position == 1
    with pytest.raises(ValueError, match="read already"):
        ring.peek(0)
    stamp(writing, 2)
    ring.commit(writing)
    check_frame(ring.peek(2).data, ring.peek(2).meta, 2)
    ring.release(first)
    assert [ring.acquire_read(0).position for _ in range(2)] == [1, 2]


def test_counters_are_visible_from_another_attached_process(make_ring, start):
    ring = make_ring(n_slots=3)
    for frame_id in range(5):
        slot = ring.try_acquire_write()
        if slot is not None:
            stamp(slot, frame_id)
            ring.commit(slot)
    ring.release(ring.acquire_read(0))
    results = CTX.Queue()
    reporter = start(report_counters, ring.spec, results)
    seen = results.get(timeout=DEADLINE_S)
    finish(reporter)
    assert seen == ring.counters()
    assert (seen.written, seen.dropped, seen.released, seen.fill) == (3, 2, 1, 2)


# -- latest-only readers -----------------------------------------------------------------------


def test_latest_reader_sees_whole_frames_and_never_changes_what_the_consumer_gets(make_ring, start):
    count = 400
    ring = make_ring(n_slots=4, shape=(256, 256), blocking=True)
    done, results = CTX.Event(), CTX.Queue()
    consumer = start(consume_in_child, ring.spec, results)
    producer = start(produce_waiting, ring.spec, count, done)
    out = np.empty((256, 256), dtype=np.uint32)
    seen = []
    while not done.is_set():
        meta = ring.read_latest(out)
        if meta is not None:
            check_frame(out, meta, int(meta["frame_id"]))
            seen.append(int(meta["frame_id"]))
    assert results.get(timeout=DEADLINE_S) == list(range(count))
    finish(producer)
    finish(consumer)
    assert seen == sorted(seen)
    meta = ring.read_latest(out)
    check_frame(out, meta, count - 1)


def test_latest_reader_skips_a_slot_the_producer_is_rewriting(make_ring):
    ring = make_ring(n_slots=1)
    out = np.empty((32, 32), dtype=np.uint32)
    assert ring.read_latest(out) is None
    slot = ring.try_acquire_write()
    stamp(slot, 1)
    ring.commit(slot)
    check_frame(out, ring.read_latest(out), 1)
    # Reading the latest frame took nothing from the consumer.
    slot = ring.acquire_read(0)
    check_frame(slot.data, slot.meta, 1)
    ring.release(slot)
    slot = ring.try_acquire_write()
    slot.data[:16] = 2  # half rewritten
    assert ring.read_latest(out) is None
    stamp(slot, 2)
    ring.commit(slot)
    check_frame(out, ring.read_latest(out), 2)
    with pytest.raises(ValueError):
        ring.read_latest(np.empty((32, 32), dtype=np.uint16))


# -- end of stream and ordering rules ----------------------------------------------------------


def test_end_of_stream_wakes_a_waiting_consumer_after_it_drained(make_ring, start):
    ring = make_ring(n_slots=8)
    results = CTX.Queue()
    consumer = start(consume_in_child, ring.spec, results)
    for frame_id in range(5):
        slot = ring.try_acquire_write()
        stamp(slot, frame_id)
        ring.commit(slot)
    ring.close_writing()
    assert results.get(timeout=DEADLINE_S) == [0, 1, 2, 3, 4]
    finish(consumer)


def test_end_of_stream_comes_only_after_the_last_slot_and_then_every_time(make_ring):
    ring = make_ring(n_slots=4)
    commit_frames(ring, range(2))
    ring.close_writing()
    with pytest.raises(RuntimeError):
        ring.try_acquire_write()
    for frame_id in range(2):
        slot = ring.acquire_read(0)
        check_frame(slot.data, slot.meta, frame_id)
        ring.release(slot)
    for _ in range(2):
        with pytest.raises(EndOfStream):
            ring.acquire_read(None)


def test_slots_are_committed_and_released_in_order(make_ring):
    ring = make_ring(n_slots=4)
    first, second = ring.try_acquire_write(), ring.try_acquire_write()
    with pytest.raises(ValueError):
        ring.commit(second)
    ring.commit(first)
    ring.commit(second)
    with pytest.raises(ValueError):
        ring.commit(second)
    first, second = ring.acquire_read(0), ring.acquire_read(0)
    assert ring.acquire_read(0) is None
    with pytest.raises(ValueError):
        ring.release(second)
    ring.release(first)
    ring.release(second)
    assert ring.counters().fill == 0


# -- cleanup -----------------------------------------------------------------------------------


def test_owner_removes_the_block_even_when_the_producer_was_killed(make_ring, start):
    ring = make_ring(n_slots=2)
    holding, never = CTX.Event(), CTX.Event()
    producer = start(hold_a_slot, ring.spec, holding, never)
    assert holding.wait(DEADLINE_S)
    producer.kill()
    producer.join(DEADLINE_S)
    assert ring.counters().fill == 1
    path = Path(SHM_DIR) / ring.name
    assert path.exists()
    ring.close()
    ring.close()
    assert not path.exists()


def test_closing_an_attached_ring_leaves_the_block_to_its_owner(make_ring):
    ring = make_ring()
    with ring.spec.attach() as attached:
        slot = attached.try_acquire_write()
        stamp(slot, 7)
        attached.commit(slot)
    assert ring.name in list_blocks()
    slot = ring.acquire_read(0)
    check_frame(slot.data, slot.meta, 7)


def _poll(condition, deadline_s: float = DEADLINE_S, interval_s: float = 0.002) -> None:
    """Check ``condition()`` until it holds; fail if the deadline passes first."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail("condition not reached before the deadline")
        time.sleep(interval_s)

"""The processor loop on a frame ring fed by the test: skipped frames counted exactly by frame
id, saved results with every frame recorded, and the thread and the process giving the same
results for the same frames and messages."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.app.processor_process import ProcessorProcess, ProcessorRequest
from lightsheet.app.processor_thread import ProcessorThread
from lightsheet.processes.commands import FinishProcessed, ProcessorState, SaveProcessed
from lightsheet.processes.processor_loop import LatestFrames, ProcessorLoop, RunEnd
from lightsheet.processes.status import SCHEMAS, ProcessorStatus
from lightsheet.processing.processor_channel import SettingsMirror
from lightsheet.processing.processors import create_processor
from lightsheet.processing.results import LocalResultQueue, Result, ResultRing
from lightsheet.runtime.status import StatusBoard
from lightsheet.storage.processed import index_processed
from tests.live.helpers import Explode, FrameFeed, frame_image
from tests.pipeline.rigs import our_blocks
from tests.waiting import wait_until


@pytest.fixture
def feed():
    ring = FrameFeed(slots=8)
    yield ring
    ring.close()
    assert our_blocks() == []


def test_skipped_frames_are_counted_exactly_by_frame_id(feed):
    reader = LatestFrames(feed.ring)
    assert reader.poll() is None
    for k in range(5):
        feed.frame(1, k)
    assert reader.poll().frame_id == 4 and reader.skipped == 0  # the first seen: no history
    assert reader.poll() is None  # nothing new
    for k in (5, 6, 7):
        feed.frame(1, k)
    assert reader.poll().frame_id == 7 and reader.skipped == 2  # 5 and 6
    feed.frame(1, 8)
    feed.frame(1, 9)
    feed.end(1, last_frame_id=9)
    assert reader.poll() == RunEnd(1, 9) and reader.skipped == 4  # 8 and 9
    for k in range(4):
        feed.frame(2, k)
    assert reader.poll().frame_id == 3 and reader.skipped == 7  # 0, 1 and 2 of run 2


def loop_on(feed, processor, sink, log_name="test") -> tuple[ProcessorLoop, list]:
    board, failures = StatusBoard(SCHEMAS), []
    loop = ProcessorLoop(feed.ring, board.section(ProcessorStatus), sink,
                         logging.getLogger(log_name), failures.append)  # fmt: skip
    mirror = SettingsMirror()
    loop.command(mirror.set(processor, f"{type(processor).__module__}:{type(processor).__name__}"))
    loop.set_state(ProcessorState(True, 4))
    return loop, failures


def test_saved_results_record_every_frame_and_equal_the_processor_on_those_frames(feed, tmp_path):
    with h5py.File(tmp_path / "dataset.h5", "w") as out:
        out.create_dataset("data", data=np.zeros((1, 1, 6, 8), np.uint16))
    loop, failures = loop_on(feed, Explode(), LocalResultQueue(100))
    loop.command(SaveProcessed(run=3, out_dir=str(tmp_path), planes=4, chunk_bytes=8,
                               chunk_seconds=60))  # fmt: skip
    for k in range(10):
        feed.frame(3, k)
        if k in (0, 1, 3, 4, 7):  # 2 is skipped; 3 raises, which switches the processor off
            assert loop.step() == (k <= 3)
    summary = loop.command(FinishProcessed(run=3, frames_acquired=10))
    assert summary.results == 2 and summary.frames_processed == 2
    assert summary.frames_not_processed == 8 and summary.chunks >= 2
    assert len(failures) == 1 and "cannot process frame 3" in failures[0].traceback
    index_processed(tmp_path)
    with h5py.File(tmp_path / "dataset.h5", "r") as run:
        table = run["processed/explode_frames"][:]
        assert table["frame_id"].tolist() == list(range(10))
        assert table["present"].tolist() == [k in (0, 1) for k in range(10)]  # off after 3
        assert run["processed/explode"][:].tolist() == [1.0, 2.0]
        assert run["processed/explode_results"]["frame_id"].tolist() == [0, 1]
        assert run["data"].shape == (1, 1, 6, 8)  # the raw data untouched


# -- the two hosts --------------------------------------------------------------------------------


def start_host(kind: str, feed: FrameFeed, processor, tmp_path: Path, shared_memory=False):
    mirror = SettingsMirror()
    source = processor if isinstance(processor, str) else None
    local = create_processor(source) if source else processor
    backlog = [mirror.set(local, source or f"{type(local).__module__}:{type(local).__name__}")]
    board, events = StatusBoard(SCHEMAS), []
    request = ProcessorRequest(ProcessorState(True, 3), backlog, shared_memory, 1 << 16, 1000,
                               "off", 3, events.append, events.append)  # fmt: skip
    if kind == "thread":
        host: ProcessorThread | ProcessorProcess = ProcessorThread(request, feed.ring.spec, board)
    else:
        host = ProcessorProcess(request, feed.ring.spec, board, tmp_path / "logs", "INFO")
    host.start()
    return host, board.section(ProcessorStatus), mirror, events


def lock_step(feed, host, status, mirror, count: int) -> list[Result]:
    """Frames one at a time, each processed before the next; a message halfway through."""
    results: list[Result] = []

    def collected() -> int:
        if isinstance(host.results, ResultRing):
            got = host.results.read_latest(results[-1].seq if results else -1)
            while got is not None:
                results.append(got)
                got = host.results.read_latest(got.seq)
        else:
            results.extend(host.results.take_all())
        return len(results)

    for k in range(count):
        if k == count // 2:  # applied before the next frame (frames and messages are not
            # ordered with each other: the frame ring is shared memory, messages a queue)
            message = (mirror.pipe_message("frames", 2) if mirror.processor.name == "mean"
                       else mirror.update_settings())  # fmt: skip
            host.post(message).wait(30)
        feed.frame(1, k)
        wait_until(lambda k=k: status.last_frame_id == k, 30, f"frame {k} processed")
        # A result is counted when sent; through a process's queue it arrives a moment later.
        wait_until(lambda: collected() >= status.results, 30, f"the results of frame {k}")
    return results


@pytest.mark.parametrize(("processor", "shared_memory"),
                         [("mean", False), ("max-projection", False), ("mean", True)])  # fmt: skip
def test_thread_and_process_give_identical_results(feed, tmp_path, processor, shared_memory):
    runs = {}
    for kind in ("thread", "process"):
        host, status, mirror, events = start_host(kind, feed, processor, tmp_path, shared_memory)
        try:
            runs[kind] = lock_step(feed, host, status, mirror, 9)
        finally:
            host.stop()
        assert events == [] and status.skipped == 0
    thread, process = runs["thread"], runs["process"]
    assert len(thread) == len(process) > 0
    for a, b in zip(thread, process, strict=True):
        assert (a.seq, a.frame_id, a.volume, a.version, a.per_volume, a.frames) == (
            b.seq, b.frame_id, b.volume, b.version, b.per_volume, b.frames)  # fmt: skip
        assert a.data.dtype == b.data.dtype
        np.testing.assert_array_equal(a.data, b.data)
    assert {r.version for r in thread} == {1, 2}  # before and after the message
    if processor == "mean":  # frame 4: frames 2..4 before the message; frame 8: 7 and 8 after
        expected = np.mean([frame_image(k) for k in (7, 8)], axis=0).astype(np.float32)
        np.testing.assert_array_equal(thread[-1].data, expected)


def test_a_disk_that_refuses_the_results_stops_saving_not_processing(feed, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the run folder should be")
    results = LocalResultQueue(100)
    loop, failures = loop_on(feed, create_processor("focus"), results)
    loop.command(SaveProcessed(run=1, out_dir=str(blocked), planes=4, chunk_bytes=8,
                               chunk_seconds=60))  # fmt: skip
    for k in range(3):
        feed.frame(1, k)
        assert loop.step()
    assert [f.action for f in failures] == ["saving stopped"]
    assert "saving the results of run 1" in failures[0].message
    assert len(results.take_all()) == 3  # processing went on
    assert loop.command(FinishProcessed(run=1, frames_acquired=3)) is None


def test_a_result_too_large_for_the_shared_memory_slots_switches_the_processor_off(feed):
    ring = ResultRing.create(2, 64)  # smaller than one float32 frame of 6 x 8
    try:
        loop, failures = loop_on(feed, create_processor("mean"), ring)
        feed.frame(1, 0)
        assert loop.step()
        assert len(failures) == 1 and failures[0].action == "switched off"
        assert "exceeds the result slots of 64 bytes" in failures[0].traceback
        assert ring.published == 0
    finally:
        ring.close()

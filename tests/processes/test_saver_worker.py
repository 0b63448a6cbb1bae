"""The saver's own code on a real volume ring, in the test process: files, counts, run change."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.processes import saver as saver_module
from lightsheet.processes.commands import RunClosed, SaverState
from lightsheet.processes.frames import KIND_END, empty_frame_table
from lightsheet.processes.saver import SaverWorker
from lightsheet.processes.status import SaverStatus
from lightsheet.runtime.commands import Notice
from lightsheet.storage.run_reader import open_run

from ..waiting import wait_until
from .harness import HEIGHT, PLANES, WIDTH, Rings, outbox, plan, pump, saver_in_process


@pytest.fixture
def rings():
    made = Rings()
    yield made
    made.close()


def saver(rings: Rings, tmp_path: Path) -> SaverWorker:
    return saver_in_process(rings, tmp_path, with_frames=False)


def hand_on(rings: Rings, run: int, volume: int) -> np.ndarray:
    slot = rings.volumes.acquire_write(1.0)
    assert slot is not None
    data = np.arange(PLANES * HEIGHT * WIDTH, dtype=np.uint16) + volume
    slot.data[:] = data
    table = empty_frame_table(volume, PLANES)
    table["frame_id"] = np.arange(PLANES) + volume * PLANES
    table["present"] = True
    meta = slot.meta
    meta["volume"], meta["run"], meta["planes"] = volume, run, PLANES
    meta["height"], meta["width"] = HEIGHT, WIDTH
    meta["frames"][:PLANES] = table
    rings.volumes.commit(slot)
    return data.reshape(PLANES, HEIGHT, WIDTH)


def hand_on_end(rings: Rings, run: int, acquired: int, dropped: int, missing: int) -> None:
    slot = rings.volumes.acquire_write(1.0)
    assert slot is not None
    meta = slot.meta
    meta["kind"], meta["run"] = KIND_END, run
    meta["frames_acquired"], meta["frames_dropped"], meta["frames_missing"] = (
        acquired, dropped, missing,
    )  # fmt: skip
    rings.volumes.commit(slot)


def notices(worker: SaverWorker) -> list[RunClosed]:
    return [item.message for item in outbox(worker) if isinstance(item, Notice)]


def saver_with_run(rings: Rings, tmp_path: Path) -> tuple[SaverWorker, Path]:
    """A saver with run 1 open, writing into ``tmp_path / "run1"``."""
    folder = tmp_path / "run1"
    (folder / "chunks").mkdir(parents=True)
    worker = saver(rings, tmp_path)
    worker.on_settings(SaverState(plan(1, folder)))
    return worker, folder


def assert_saved(folder: Path, written: list[np.ndarray]) -> None:
    data = open_run(folder)
    try:
        np.testing.assert_array_equal(data[...], np.stack(written))
    finally:
        data.file.close()


def test_a_run_is_written_and_reported_with_the_counts_of_its_end_marker(rings, tmp_path):
    worker, folder = saver_with_run(rings, tmp_path)
    try:
        written = [hand_on(rings, 1, v) for v in range(3)]
        hand_on_end(rings, 1, acquired=12, dropped=1, missing=1)
        pump(worker, rings.volumes, until_released=True)
        (report,) = notices(worker)
    finally:
        worker.teardown()
    assert report == RunClosed(
        1, True, 12, 1, 1, volumes_saved=3, chunks=3,
        bytes_written=3 * PLANES * HEIGHT * WIDTH * 2, write_s=report.write_s,
        planes_by_way=report.planes_by_way,
    )  # fmt: skip
    assert 0 < report.write_s < 60  # the time spent writing: the sink's speed in the run
    assert sum(report.planes_by_way) == 3 * PLANES  # each plane, counted by the way it went
    assert_saved(folder, written)


def test_a_run_replaced_before_its_end_is_closed_and_reported_as_cut_off(rings, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        (folder / "chunks").mkdir(parents=True)
    worker = saver(rings, tmp_path)
    try:
        worker.on_settings(SaverState(plan(1, first)))
        hand_on(rings, 1, 0)
        pump(worker, rings.volumes, until_released=True)
        worker.on_settings(SaverState(plan(2, second)))
        hand_on(rings, 1, 1)  # late: run 1 is closed, this must not land in run 2's files
        hand_on(rings, 2, 0)
        hand_on_end(rings, 2, acquired=4, dropped=0, missing=0)
        pump(worker, rings.volumes, until_released=True)
        reports = notices(worker)
    finally:
        worker.teardown()
    assert [(r.run, r.ended, r.volumes_saved) for r in reports] == [(1, False, 1), (2, True, 1)]
    for folder in (first, second):
        with h5py.File(folder / "dataset.h5") as f:
            assert f["data"].shape[0] == 1


def test_teardown_writes_what_was_handed_over_before_closing(rings, tmp_path):
    folder = tmp_path / "run"
    (folder / "chunks").mkdir(parents=True)
    worker = saver(rings, tmp_path)
    worker.on_settings(SaverState(plan(1, folder)))
    for volume in range(2):
        hand_on(rings, 1, volume)
    worker.teardown()  # stopped with both volumes still in the ring
    (report,) = notices(worker)
    assert (report.ended, report.volumes_saved) == (False, 2)
    with h5py.File(folder / "dataset.h5") as f:
        assert f["data"].shape[0] == 2


def test_the_share_of_time_spent_writing_is_published_and_a_busy_second_logged_once(
    rings, tmp_path, monkeypatch, caplog
):
    """``busy`` says whether the sink is the limit; at the threshold the log says so, once a run
    (here every second counts as busy, so the second window must not log again)."""
    monkeypatch.setattr(saver_module, "BUSY_WARNING", 0.0)
    worker, _ = saver_with_run(rings, tmp_path)
    status = rings.status.section(SaverStatus)
    windows = []

    def a_second_was_measured() -> bool:
        worker.step()  # no volume: waits READ_TIMEOUT_S, then closes the window when it is due
        if status.mbps != (windows[-1] if windows else 0.0):
            windows.append(status.mbps)
        return len(windows) >= 2

    try:
        hand_on(rings, 1, 0)
        pump(worker, rings.volumes, until_released=True)
        wait_until(a_second_was_measured, 10, "two one-second windows")
        busy = status.busy
    finally:
        worker.teardown()
    assert 0 <= busy <= 1
    warned = [r.getMessage() for r in caplog.records if "spent writing" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].startswith("run 1:") and "the sink is near its limit" in warned[0]


def test_a_volume_slot_goes_back_only_once_its_write_has_landed(rings, tmp_path):
    """The saver writes a volume on a thread while it takes the next: the slot it writes from
    stays held (the dispatcher would give its frames back to the camera) until that write has
    landed, and the slots go back in the order they were read."""
    worker, folder = saver_with_run(rings, tmp_path)
    try:
        written = [hand_on(rings, 1, v) for v in range(2)]
        worker.step()  # volume 0 taken, its write started
        assert rings.volumes.counters().released == 0
        worker.step()  # volume 1 taken: volume 0 has landed first
        assert rings.volumes.counters().released == 1
        worker.step()  # nothing waits: volume 1 lands and goes back
        assert rings.volumes.counters().released == 2
        hand_on_end(rings, 1, acquired=8, dropped=0, missing=0)
        pump(worker, rings.volumes, until_released=True)
        (report,) = notices(worker)
    finally:
        worker.teardown()
    assert (report.ended, report.volumes_saved) == (True, 2)
    assert_saved(folder, written)

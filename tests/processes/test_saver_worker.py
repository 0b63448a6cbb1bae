"""The saver's own code on a real volume ring, in the test process: files, counts, run change."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.processes.commands import RunClosed, SaverState
from lightsheet.processes.frames import KIND_END, empty_frame_table
from lightsheet.processes.saver import SaverWorker
from lightsheet.runtime.commands import Notice
from lightsheet.storage.run_reader import open_run

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


def test_a_run_is_written_and_reported_with_the_counts_of_its_end_marker(rings, tmp_path):
    folder = tmp_path / "run1"
    (folder / "chunks").mkdir(parents=True)
    worker = saver(rings, tmp_path)
    try:
        worker.on_settings(SaverState(plan(1, folder)))
        written = [hand_on(rings, 1, v) for v in range(3)]
        hand_on_end(rings, 1, acquired=12, dropped=1, missing=1)
        pump(worker, rings.volumes)
        (report,) = notices(worker)
    finally:
        worker.teardown()
    assert report == RunClosed(1, True, 12, 1, 1, volumes_saved=3, chunks=3)
    data = open_run(folder)
    try:
        np.testing.assert_array_equal(data[...], np.stack(written))
    finally:
        data.file.close()


def test_a_run_replaced_before_its_end_is_closed_and_reported_as_cut_off(rings, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        (folder / "chunks").mkdir(parents=True)
    worker = saver(rings, tmp_path)
    try:
        worker.on_settings(SaverState(plan(1, first)))
        hand_on(rings, 1, 0)
        pump(worker, rings.volumes)
        worker.on_settings(SaverState(plan(2, second)))
        hand_on(rings, 1, 1)  # late: run 1 is closed, this must not land in run 2's files
        hand_on(rings, 2, 0)
        hand_on_end(rings, 2, acquired=4, dropped=0, missing=0)
        pump(worker, rings.volumes)
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

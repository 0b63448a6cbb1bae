"""Planes written from the camera's frame slots: no copy, and no slot back before it is saved.

The dispatcher and the saver run their real code on real rings in the test process; the saver
writes real files, read back through the run reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from lightsheet.processes.commands import SaverState, TakeDark
from lightsheet.processes.dispatcher import DispatcherWorker
from lightsheet.processes.saver import SaverWorker
from lightsheet.processes.status import DispatcherStatus
from lightsheet.runtime.worker import WorkerFailure
from lightsheet.storage.run_reader import open_run

from .harness import (
    HEIGHT,
    PLANES,
    WIDTH,
    Rings,
    acquire_state,
    dispatcher_in_process,
    frame_of,
    plan,
    pump,
    saver_in_process,
)


def saved(folder: Path) -> np.ndarray:
    data = open_run(folder)
    try:
        return np.asarray(data[...])
    finally:
        data.file.close()


@contextmanager
def run_one(
    rings: Rings, tmp_path: Path, with_frames: bool = True
) -> Iterator[tuple[DispatcherWorker, SaverWorker, Path]]:
    """A dispatcher and a saver in this process, both in run 1; the rings are closed after."""
    folder = tmp_path / "run"
    (folder / "chunks").mkdir(parents=True)
    writer = saver_in_process(rings, tmp_path, with_frames)
    try:
        with dispatcher_in_process(rings, tmp_path) as worker:
            worker.on_settings(acquire_state(plan(1, folder)))
            writer.on_settings(SaverState(plan(1, folder)))
            yield worker, writer, folder
    finally:
        writer.teardown()
        rings.close()


def test_frame_slots_stay_held_until_the_saver_wrote_their_volume(tmp_path):
    rings = Rings()
    with run_one(rings, tmp_path) as (worker, _, _):
        for frame_id in range(2 * PLANES):
            rings.frame(1, frame_id)
        pump(worker, rings.frames)
        counters = rings.frames.counters()
        assert (counters.read, counters.released) == (2 * PLANES, 0)

        assert rings.status.section(DispatcherStatus).copied == 0
        slot = rings.volumes.acquire_read(0)
        assert slot is not None
        assert slot.meta["in_frame_slot"].tolist() == [True] * PLANES  # referenced, not copied
        rings.volumes.release(slot)  # what the saver does once volume 0 is written
        worker.step()
        assert rings.frames.counters().released == PLANES  # volume 0's frames, not volume 1's


def test_the_saver_writes_each_plane_from_the_frame_slot_it_arrived_in(tmp_path):
    rings = Rings()
    with run_one(rings, tmp_path) as (worker, writer, folder):
        for frame_id in [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]:  # frame 3 never came
            rings.frame(1, frame_id)
        rings.end(1, last_frame_id=11)
        pump(worker, rings.frames)
        pump(writer, rings.volumes, until_released=True)
        worker.step()
        assert rings.frames.counters().released == rings.frames.counters().read
    volumes = saved(folder)
    assert volumes.shape == (3, PLANES, HEIGHT, WIDTH)
    for frame_id in range(3 * PLANES):
        expected = np.zeros((HEIGHT, WIDTH)) if frame_id == 3 else frame_of(frame_id)
        np.testing.assert_array_equal(volumes[divmod(frame_id, PLANES)], expected)


@pytest.mark.parametrize(
    ("frame_slots", "copied_share"), [(3 * PLANES, 0.0), (2 * PLANES + 1, 0.75)]
)
def test_a_frame_is_held_only_while_two_volumes_of_slots_stay_free_for_the_camera(
    tmp_path, frame_slots, copied_share
):
    """12 slots hold a whole volume besides two free; with 9 only the first frame after the saver
    caught up is held, the other three of each volume are copied. The camera always finds a slot,
    and what is saved is the same."""
    rings = Rings(frame_slots=frame_slots, volume_slots=2)
    frames = 6 * PLANES
    with run_one(rings, tmp_path) as (worker, writer, folder):
        for frame_id in range(frames):
            rings.frame(1, frame_id)  # asserts that the camera found a free slot
            worker.step()
            pump(writer, rings.volumes, until_released=True)
        rings.end(1, last_frame_id=frames - 1)
        pump(worker, rings.frames)
        pump(writer, rings.volumes, until_released=True)
        copied = rings.status.section(DispatcherStatus).copied
    assert copied == copied_share * frames
    volumes = saved(folder)
    for frame_id in range(frames):
        np.testing.assert_array_equal(volumes[divmod(frame_id, PLANES)], frame_of(frame_id))


def test_dark_subtracted_frames_are_copied_and_their_slots_given_back_at_once(tmp_path):
    rings = Rings()
    try:
        with dispatcher_in_process(rings, tmp_path) as worker:
            worker.on_command(TakeDark(frames=1, epoch=5))
            rings.frame(5, 0, np.full((HEIGHT, WIDTH), 1000, dtype=np.uint16))
            pump(worker, rings.frames)
            worker.on_settings(acquire_state(plan(1, tmp_path), subtract_dark=True))
            for frame_id in range(PLANES):
                rings.frame(1, frame_id)
            pump(worker, rings.frames)
            assert rings.frames.counters().released == 1 + PLANES
            assert rings.status.section(DispatcherStatus).copied == PLANES
        (volume,) = rings.take_volumes()
        assert (volume["data"] == np.arange(PLANES)[:, None, None]).all()
    finally:
        rings.close()


def test_a_saver_without_the_frame_ring_refuses_a_volume_that_names_a_frame_slot(tmp_path):
    rings = Rings()
    with run_one(rings, tmp_path, with_frames=False) as (worker, writer, _):
        for frame_id in range(PLANES):
            rings.frame(1, frame_id)
        pump(worker, rings.frames)
        with pytest.raises(WorkerFailure, match="plane 0 is in frame slot 0, and no frame"):
            writer.step()

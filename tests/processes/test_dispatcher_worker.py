"""The dispatcher's own code on real rings, in the test process: gaps, dark, drain, run change."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.processes.commands import DispatcherState, TakeDark
from lightsheet.processes.frames import KIND_END
from lightsheet.runtime.commands import DEFERRED, Reply

from .harness import (
    HEIGHT,
    PLANES,
    WIDTH,
    Rings,
    acquire_state,
    dispatcher_in_process,
    frame_of,
    outbox,
    plan,
    pump,
)


@pytest.fixture
def rings():
    made = Rings()
    yield made
    made.close()


def test_a_missing_frame_leaves_a_zeroed_plane_and_later_planes_in_place(rings, tmp_path):
    with dispatcher_in_process(rings, tmp_path) as worker:
        worker.on_settings(acquire_state(plan(1, tmp_path)))
        for frame_id in [0, 1, 2, 4, 5, 6, 7]:  # 3 never arrived
            rings.frame(1, frame_id)
        rings.end(1, last_frame_id=7)
        pump(worker, rings.frames)
    volume0, volume1, end = rings.take_volumes()
    assert [v["volume"] for v in (volume0, volume1)] == [0, 1]
    assert volume0["frames"]["present"].tolist() == [True, True, True, False]
    assert not volume0["data"][3].any()
    for plane in range(PLANES):
        np.testing.assert_array_equal(volume1["data"][plane], frame_of(PLANES + plane))
    assert volume1["frames"]["frame_id"].tolist() == [4, 5, 6, 7]
    assert end["kind"] == KIND_END
    assert (end["acquired"], end["missing"]) == (8, 1)


def test_frames_lost_at_the_end_are_gaps_up_to_the_runs_last_frame(rings, tmp_path):
    with dispatcher_in_process(rings, tmp_path) as worker:
        worker.on_settings(acquire_state(plan(1, tmp_path)))
        for frame_id in range(5):
            rings.frame(1, frame_id)
        rings.void()  # the camera's read of frame 5 timed out when the run ended
        rings.end(1, last_frame_id=7)  # frames 5-7 were the run's but never came
        pump(worker, rings.frames)
    volumes = rings.take_volumes()
    assert [v["kind"] for v in volumes] == [0, 0, KIND_END]
    assert volumes[1]["frames"]["present"].tolist() == [True, False, False, False]
    assert volumes[2]["missing"] == 3


def test_the_dark_frame_is_averaged_from_its_epoch_and_subtracted_saturating(rings, tmp_path):
    with dispatcher_in_process(rings, tmp_path) as worker:
        assert worker.on_command(TakeDark(frames=2, epoch=5)) is DEFERRED
        lit = np.full((8, 6), 9000, dtype=np.uint16)
        rings.frame(4, 0, lit)  # an older epoch, still in the ring: lit, not dark
        rings.frame(5, 0, np.full((8, 6), 100, dtype=np.uint16))
        rings.frame(5, 1, np.full((8, 6), 104, dtype=np.uint16))
        pump(worker, rings.frames)
        replies = [item for item in outbox(worker) if isinstance(item, Reply)]
        assert replies and replies[-1].ok
        dark = rings.preview.read_dark()
        assert dark is not None and (dark == 102).all()

        worker.on_settings(acquire_state(plan(6, tmp_path), subtract_dark=True))
        image = np.full((8, 6), 1102, dtype=np.uint16)
        image[0, 0] = 50  # below the dark: must read 0, never wrap around
        for frame_id in range(PLANES):
            rings.frame(6, frame_id, image)
        pump(worker, rings.frames)
    volume = rings.take_volumes()[0]
    assert volume["data"][0][0, 0] == 0
    assert (volume["data"][:, 1:, :] == 1000).all()


def test_a_stop_drains_committed_frames_and_hands_on_the_partial_volume(rings, tmp_path):
    with dispatcher_in_process(rings, tmp_path) as worker:
        worker.on_settings(acquire_state(plan(1, tmp_path)))
        for frame_id in range(6):  # volume 1 is half acquired when the stop comes
            rings.frame(1, frame_id)
        # No step ran: every frame is still in the ring when the process is stopped.
    volumes = rings.take_volumes()
    assert [v["volume"] for v in volumes] == [0, 1]
    assert volumes[1]["frames"]["present"].tolist() == [True, True, False, False]
    assert rings.frames.counters().read == 6  # held: the saver writes the planes from them


def test_a_new_run_never_merges_into_the_last_ones_half_built_volume(rings, tmp_path):
    with dispatcher_in_process(rings, tmp_path) as worker:
        worker.on_settings(acquire_state(plan(1, tmp_path)))
        for frame_id in range(2):  # run 1 ends without its end marker after two planes
            rings.frame(1, frame_id)
        pump(worker, rings.frames)
        worker.on_settings(acquire_state(plan(2, tmp_path)))
        rings.frame(1, 2)  # a late frame of run 1: not run 2's
        for frame_id in range(PLANES):
            rings.frame(2, frame_id, frame_of(frame_id, offset=2000))
        rings.end(2, last_frame_id=PLANES - 1)
        rings.end(1, last_frame_id=2)  # a late end of run 1: already closed
        pump(worker, rings.frames)
    run1_volume, run1_end, run2_volume, run2_end = rings.take_volumes()
    assert (run1_volume["run"], run1_volume["volume"]) == (1, 0)
    assert run1_volume["frames"]["present"].tolist() == [True, True, False, False]
    assert (run1_end["kind"], run1_end["run"], run1_end["acquired"]) == (KIND_END, 1, -1)
    assert (run2_volume["run"], run2_volume["volume"]) == (2, 0)
    assert run2_volume["frames"]["frame_id"].tolist() == [0, 1, 2, 3]
    assert (run2_volume["data"] >= 2000).all()
    assert (run2_end["run"], run2_end["acquired"], run2_end["missing"]) == (2, 4, 0)


def test_the_preview_shows_a_volume_only_whole_and_as_it_is_saved(rings, tmp_path):
    """Planes are copied into the preview as they arrive; the volume appears at its end."""
    with dispatcher_in_process(rings, tmp_path) as worker:
        worker.on_settings(acquire_state(plan(1, tmp_path), preview=True, preview_hz=1e9))
        for frame_id in range(PLANES - 1):
            rings.frame(1, frame_id)
        pump(worker, rings.frames)
        assert rings.preview.read_latest() is None  # three planes in: nothing shown yet
        rings.frame(1, PLANES - 1)
        pump(worker, rings.frames)
        image, index, _ = rings.preview.read_latest()
        for frame_id in [4, 5, 7]:  # volume 1 without its plane 2
            rings.frame(1, frame_id)
        rings.end(1, last_frame_id=7)
        pump(worker, rings.frames)
        second, second_index, _ = rings.preview.read_latest()
    saved = rings.take_volumes()
    assert index == 0
    np.testing.assert_array_equal(image, saved[0]["data"])
    assert second_index == 1
    np.testing.assert_array_equal(second, saved[1]["data"])
    assert not second[2].any()  # the missing plane is zero, as saved


def test_a_new_preview_epoch_restarting_frame_ids_is_still_shown(rings, tmp_path):
    state = DispatcherState("preview", PLANES, HEIGHT, WIDTH, preview=True, preview_hz=1e9)
    with dispatcher_in_process(rings, tmp_path) as worker:
        worker.on_settings(state)
        for frame_id in range(2 * PLANES):
            rings.frame(3, frame_id)
        pump(worker, rings.frames)
        assert rings.preview.read_latest()[1] == 1
        for frame_id in range(PLANES):  # the camera restarted: ids from 0 again
            rings.frame(4, frame_id, frame_of(frame_id, offset=5000))
        pump(worker, rings.frames)
        image, index, _ = rings.preview.read_latest()
    assert index == 0 and (image >= 5000).all()

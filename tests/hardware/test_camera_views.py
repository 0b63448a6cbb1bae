"""FrameViews over read_into (every camera without a native implementation), the run-relative
frame ids, and the in-place widening of 8-bit frames."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.hardware.camera.frame_ids import FrameCounter
from lightsheet.hardware.camera.genicam import GenicamCamera
from lightsheet.hardware.camera.genicam_stream import GVSP_ID_SPAN, widen_in_place
from lightsheet.hardware.camera.protocol import CameraError, FrameInfo
from lightsheet.hardware.camera.simulated import decode_frame_id
from lightsheet.hardware.camera.views import ReadIntoViews, frame_views
from tests.hardware.test_camera_contract import small_simulated

READ_TIMEOUT_S = 5.0


def test_a_camera_without_native_views_gets_them_over_read_into() -> None:
    with small_simulated(stamp_frame_id=True, drop_frame_ids=[3]) as camera:
        views = frame_views(camera)
        assert isinstance(views, ReadIntoViews)
        slots = [np.zeros(camera.frame_shape, np.uint16) for _ in range(3)]
        for index in (1, 2, 0):
            views.queue_view(slots[index], index)
        camera.start()
        got = []
        for _ in range(5):
            index, info = views.next_filled(READ_TIMEOUT_S)
            assert isinstance(info, FrameInfo)
            assert decode_frame_id(slots[index]) == info.frame_id  # the frame is in that view
            got.append((index, info.frame_id))
            views.queue_view(slots[index], index)
        camera.stop()
    assert got == [(1, 0), (2, 1), (0, 2), (1, 4), (2, 5)]
    assert views.frames_lost == 1  # frame 3 never came


def test_a_frame_that_finds_no_view_queued_is_read_and_counted_as_lost() -> None:
    with small_simulated(stamp_frame_id=True) as camera:
        views = frame_views(camera)
        slot = np.zeros(camera.frame_shape, np.uint16)
        camera.start()
        assert views.next_filled(READ_TIMEOUT_S) is None  # nothing queued: frame 0 is lost
        assert views.frames_lost == 1 and views.queued == 0
        views.queue_view(slot, "slot")
        token, info = views.next_filled(READ_TIMEOUT_S)
        assert (token, info.frame_id, decode_frame_id(slot)) == ("slot", 1, 1)
        with pytest.raises(CameraError, match="stopped"):
            views.release_views()
        camera.stop()
        views.release_views()


def test_views_must_fit_the_frames() -> None:
    with small_simulated() as camera:
        views = frame_views(camera)
        height, width = camera.frame_shape
        with pytest.raises(CameraError, match=r"view is uint16 \(2, 2\)"):
            views.queue_view(np.zeros((2, 2), np.uint16), 0)
        with pytest.raises(CameraError, match="view is int16"):
            views.queue_view(np.zeros((height, width), np.int16), 0)
        with pytest.raises(CameraError, match="numpy array"):
            views.queue_view([[0]], 0)
        view = np.zeros((height, width), np.uint16)
        views.queue_view(view, 0)
        with pytest.raises(CameraError, match="already queued"):
            views.queue_view(view, 1)


def test_a_genicam_camera_is_its_own_frame_views() -> None:
    camera = GenicamCamera("Fake_1")
    assert frame_views(camera) is camera


def test_frame_ids_follow_the_cameras_counter_across_16_bit_wraps_and_gaps() -> None:
    counter = FrameCounter(wrap=GVSP_ID_SPAN)
    raw = [65533, 65534, 65535, 1, 2, 5, 6]  # GigE Vision block ids skip 0; 3 and 4 were lost
    assert [counter.advance(r) for r in raw] == [0, 1, 2, 3, 4, 7, 8]
    assert counter.skipped == 2


def test_a_frame_with_an_untrusted_counter_is_taken_as_the_next_one() -> None:
    counter = FrameCounter(wrap=GVSP_ID_SPAN)
    ids = [counter.advance(65534), counter.advance(65535), counter.advance_untrusted()]
    ids += [counter.advance(2), counter.advance_untrusted(), counter.advance(4)]
    assert ids == [0, 1, 2, 3, 4, 5]  # the untrusted ones stood for block ids 1 and 3
    assert counter.skipped == 0


def test_frame_ids_of_a_counter_that_restarts_or_is_missing_move_on_by_one() -> None:
    counter = FrameCounter()
    assert [counter.advance(r) for r in (10, 11, 1, None, 2, 4)] == [0, 1, 2, 3, 4, 6]
    assert counter.skipped == 1


@pytest.mark.parametrize("shape", [(1, 7), (2, 3), (511, 640), (1000, 1)])
def test_8_bit_frames_widen_in_place(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    view = np.zeros(shape, np.uint16)
    view.reshape(-1).view(np.uint8)[: image.size] = image.reshape(-1)  # as Aravis writes Mono8
    widen_in_place(view)
    np.testing.assert_array_equal(view, image)

"""The camera contract: what every ``Camera`` backend promises, as a pytest base class.

A backend author subclasses ``CameraContract`` as ``TestMyCamera`` and implements ``make_camera``;
every test below then runs against that backend unchanged. A backend whose device may be absent
calls ``pytest.skip`` in ``make_camera``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightsheet.hardware.camera.protocol import Camera, CameraError, FrameInfo, Roi

READ_TIMEOUT_S = 5.0  # generous: a frame normally comes within milliseconds
JOIN_DEADLINE_S = 10.0


def read_frames(camera: Camera, count: int) -> tuple[list[FrameInfo], list[np.ndarray]]:
    """Read ``count`` frames into fresh buffers; fail if one does not come in time."""
    infos, frames = [], []
    for _ in range(count):
        buffer = np.empty(camera.frame_shape, dtype=camera.dtype)
        info = camera.read_into(buffer, READ_TIMEOUT_S)
        assert info is not None, "no frame within the read timeout"
        infos.append(info)
        frames.append(buffer)
    return infos, frames


class CameraContract:
    """Every test a ``Camera`` backend must pass; subclass as ``TestXxx`` and implement the hook.

    The camera must run free in internal trigger mode (no external trigger source needed), start
    at binning 1 with the full sensor as ROI, and offer every binning in ``SUPPORTED_BINNING``.
    """

    def make_camera(self) -> Camera:
        """A new camera of the backend under test, not yet opened; called once per test."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_camera() to run the camera contract"
        )

    @pytest.fixture
    def camera(self) -> Iterator[Camera]:
        with self.make_camera() as opened:
            yield opened
        assert not opened.is_open

    # -- settings ---------------------------------------------------------------------------------

    def test_exposure_is_clipped_to_the_range_and_the_applied_value_returned(
        self, camera: Camera
    ) -> None:
        low, high = camera.exposure_range_ms
        assert camera.set_exposure_ms(low / 10) == pytest.approx(low)
        assert camera.set_exposure_ms(high * 10) == pytest.approx(high)
        assert camera.set_exposure_ms(-5) == pytest.approx(low)
        inside = min(max(5.0, low), high)
        applied = camera.set_exposure_ms(inside)
        assert applied == camera.exposure_ms
        assert applied == pytest.approx(inside, rel=0.01)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), "10", None, True])
    def test_invalid_exposure_is_refused_and_nothing_changes(
        self, camera: Camera, bad: object
    ) -> None:
        before = camera.exposure_ms
        with pytest.raises(CameraError, match="exposure"):
            camera.set_exposure_ms(bad)  # type: ignore[arg-type]
        assert camera.exposure_ms == before

    def test_frame_shape_follows_binning(self, camera: Camera) -> None:
        sensor_h, sensor_w = camera.sensor_shape
        assert camera.roi == Roi(0, 0, sensor_w, sensor_h)
        for binning in camera.SUPPORTED_BINNING:
            assert camera.set_binning(binning) == binning
            roi = camera.roi
            assert camera.frame_shape == (roi.height // binning, roi.width // binning)
            assert roi.width % binning == 0 and roi.height % binning == 0

    @pytest.mark.parametrize("bad", [3, 0, -1, 2.0, "2", None, True])
    def test_unsupported_binning_is_refused(self, camera: Camera, bad: object) -> None:
        with pytest.raises(CameraError, match="binning"):
            camera.set_binning(bad)  # type: ignore[arg-type]
        assert camera.binning == 1

    def test_binning_refits_the_requested_roi_and_restores_it(self, camera: Camera) -> None:
        step = camera.ROI_STEP
        requested = Roi(3 * step, 5 * step, 41 * step, 23 * step)
        assert camera.set_roi(*requested) == requested
        camera.set_binning(4)
        binned = camera.roi
        assert binned.width % 4 == 0 and binned.width <= requested.width
        assert camera.frame_shape == (binned.height // 4, binned.width // 4)
        camera.set_binning(1)
        assert camera.roi == requested

    def test_roi_is_clipped_to_the_sensor(self, camera: Camera) -> None:
        sensor_h, sensor_w = camera.sensor_shape
        roi = camera.set_roi(-10, -10, 10 * sensor_w, 10 * sensor_h)
        assert roi == Roi(0, 0, sensor_w, sensor_h)
        roi = camera.set_roi(sensor_w + 100, 0, 50, 50)
        assert roi.x + roi.width <= sensor_w and roi.width >= camera.ROI_STEP
        assert camera.frame_shape == (roi.height, roi.width)

    @pytest.mark.parametrize(
        "bad",
        [(0, 0, 0, 10), (0, 0, 10, -1), (0.5, 0, 10, 10), ("0", 0, 10, 10), (0, 0, None, 10)],
    )
    def test_invalid_roi_is_refused_and_nothing_changes(self, camera: Camera, bad: tuple) -> None:
        before = camera.roi
        with pytest.raises(CameraError, match="ROI"):
            camera.set_roi(*bad)
        assert camera.roi == before

    def test_any_roi_request_gives_an_aligned_region_inside_the_sensor(
        self, camera: Camera
    ) -> None:
        sensor_h, sensor_w = camera.sensor_shape
        big = 3 * max(sensor_h, sensor_w)

        @settings(max_examples=150, deadline=None)
        @given(
            binning=st.sampled_from(camera.SUPPORTED_BINNING),
            x=st.integers(-big, big),
            y=st.integers(-big, big),
            width=st.integers(1, big),
            height=st.integers(1, big),
        )
        def check(binning: int, x: int, y: int, width: int, height: int) -> None:
            camera.set_binning(binning)
            roi = camera.set_roi(x, y, width, height)
            step = camera.ROI_STEP * binning
            assert roi == camera.roi
            assert roi.x >= 0 and roi.x + roi.width <= sensor_w
            assert roi.y >= 0 and roi.y + roi.height <= sensor_h
            assert roi.width >= step and roi.height >= step
            assert all(v % step == 0 for v in roi)
            assert roi.width <= max(width, step) and roi.height <= max(height, step)
            assert camera.frame_shape == (roi.height // binning, roi.width // binning)
            fits = x >= 0 and x + width <= sensor_w and y >= 0 and y + height <= sensor_h
            if fits and all(v % step == 0 for v in (x, y, width, height)):
                assert roi == Roi(x, y, width, height)

        check()

    def test_unknown_trigger_mode_is_refused(self, camera: Camera) -> None:
        with pytest.raises(CameraError, match="trigger mode"):
            camera.set_trigger_mode("software")
        assert camera.trigger_mode == "internal"

    def test_settings_while_running_follow_live_settings(self, camera: Camera) -> None:
        camera.start()
        attempts = {
            "exposure": lambda: camera.set_exposure_ms(camera.exposure_ms),
            "binning": lambda: camera.set_binning(camera.binning),
            "roi": lambda: camera.set_roi(*camera.roi),
            "trigger_mode": lambda: camera.set_trigger_mode("internal"),
        }
        for name, attempt in attempts.items():
            if name in camera.LIVE_SETTINGS:
                attempt()
            else:
                with pytest.raises(CameraError, match="while"):
                    attempt()
        camera.stop()
        for attempt in attempts.values():
            attempt()

    # -- acquisition ------------------------------------------------------------------------------

    def test_frame_ids_count_from_zero_and_timestamps_increase(self, camera: Camera) -> None:
        camera.set_binning(2)
        camera.start()
        infos, frames = read_frames(camera, 12)
        assert [i.frame_id for i in infos] == list(range(12))
        camera_ts = [i.camera_ts for i in infos]
        host_ts = [i.host_ts for i in infos]
        assert all(b > a for a, b in itertools.pairwise(camera_ts))
        assert all(b >= a for a, b in itertools.pairwise(host_ts))
        assert all(f.shape == camera.frame_shape and f.dtype == np.uint16 for f in frames)

    def test_stop_and_start_restart_frame_ids(self, camera: Camera) -> None:
        camera.start()
        read_frames(camera, 3)
        camera.stop()
        camera.start()
        infos, _ = read_frames(camera, 3)
        assert [i.frame_id for i in infos] == [0, 1, 2]

    def test_read_times_out_with_none_when_not_running(self, camera: Camera) -> None:
        buffer = np.empty(camera.frame_shape, dtype=camera.dtype)
        assert camera.read_into(buffer, 0.01) is None
        camera.start()
        read_frames(camera, 1)
        camera.stop()
        assert camera.read_into(buffer, 0.01) is None

    @pytest.mark.parametrize(
        "make_buffer",
        [
            pytest.param(lambda shape: np.empty((shape[0] + 1, shape[1]), np.uint16), id="shape"),
            pytest.param(lambda shape: np.empty((*shape[::-1], 1), np.uint16), id="ndim"),
            pytest.param(lambda shape: np.empty(shape, np.int16), id="dtype"),
            pytest.param(lambda shape: np.empty(shape, np.float32), id="float"),
            pytest.param(lambda shape: np.zeros(shape, np.uint16).tolist(), id="list"),
        ],
    )
    def test_read_into_a_wrong_buffer_raises(self, camera: Camera, make_buffer: Callable) -> None:
        camera.set_binning(2)
        camera.start()
        with pytest.raises(CameraError, match="buffer"):
            camera.read_into(make_buffer(camera.frame_shape), READ_TIMEOUT_S)

    def test_read_into_a_read_only_buffer_raises(self, camera: Camera) -> None:
        camera.start()
        buffer = np.empty(camera.frame_shape, dtype=camera.dtype)
        buffer.setflags(write=False)
        with pytest.raises(CameraError, match="read-only"):
            camera.read_into(buffer, READ_TIMEOUT_S)

    def test_read_into_a_strided_view_fills_only_that_view(self, camera: Camera) -> None:
        """The ring hands out views into shared memory; the camera must write through them."""
        camera.start()
        height, width = camera.frame_shape
        backing = np.full((height, width + 3), 7, dtype=np.uint16)
        view = backing[:, 1 : width + 1]
        assert camera.read_into(view, READ_TIMEOUT_S) is not None
        assert np.all(backing[:, 0] == 7) and np.all(backing[:, width + 1 :] == 7)

    def test_stop_from_another_thread_ends_a_blocked_read(self, camera: Camera) -> None:
        camera.set_exposure_ms(camera.exposure_range_ms[1])  # the first frame is far away
        camera.start()
        buffer = np.empty(camera.frame_shape, dtype=camera.dtype)
        results: list[FrameInfo | None] = []
        reading = threading.Event()

        def reader() -> None:
            reading.set()
            results.append(camera.read_into(buffer, 600.0))

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        assert reading.wait(JOIN_DEADLINE_S)
        camera.stop()
        thread.join(JOIN_DEADLINE_S)
        assert not thread.is_alive(), "read_into kept blocking after stop"
        assert results == [None]

    def test_start_twice_is_refused(self, camera: Camera) -> None:
        camera.start()
        with pytest.raises(CameraError, match="already running"):
            camera.start()

    def test_a_closed_camera_refuses_work_and_close_is_idempotent(self, camera: Camera) -> None:
        camera.start()
        camera.close()
        assert not camera.is_open and not camera.is_running
        camera.close()
        with pytest.raises(CameraError, match="not open"):
            camera.start()
        with pytest.raises(CameraError, match="not open"):
            camera.set_exposure_ms(1.0)
        with pytest.raises(CameraError, match="not open"):
            camera.read_into(np.empty(camera.frame_shape, camera.dtype), 0.01)

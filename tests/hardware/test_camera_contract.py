"""The camera contract, run against every backend, then what only the simulated camera promises.

Real SDK backends join ``BACKENDS`` (skipped when their camera is absent); every contract test
then runs against them unchanged.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightsheet.hardware.camera.factory import open_camera, sample_reference
from lightsheet.hardware.camera.protocol import Camera, CameraError, FrameInfo, Roi
from lightsheet.hardware.camera.simulated import SimulatedCamera, decode_frame_id

READ_TIMEOUT_S = 5.0  # generous: a frame normally comes within milliseconds
JOIN_DEADLINE_S = 10.0
PLANES_UM = (0.0, 20.0, 40.0)


def small_simulated(**options: object) -> SimulatedCamera:
    defaults: dict[str, object] = {
        "sensor_width": 160,
        "sensor_height": 120,
        "readout_ms": 1.0,
        "exposure_ms": 1.0,
        "seed": 3,
    }
    defaults.update(options)
    return SimulatedCamera(PLANES_UM, **defaults)  # type: ignore[arg-type]


BACKENDS = [pytest.param(small_simulated, id="simulated")]


@pytest.fixture(params=BACKENDS)
def camera(request: pytest.FixtureRequest) -> Iterator[Camera]:
    factory: Callable[[], Camera] = request.param
    with factory() as opened:
        yield opened
    assert not opened.is_open


def read_frames(camera: Camera, count: int) -> tuple[list[FrameInfo], list[np.ndarray]]:
    infos, frames = [], []
    for _ in range(count):
        buffer = np.empty(camera.frame_shape, dtype=camera.dtype)
        info = camera.read_into(buffer, READ_TIMEOUT_S)
        assert info is not None, "no frame within the read timeout"
        infos.append(info)
        frames.append(buffer)
    return infos, frames


# -- contract: settings ---------------------------------------------------------------------------


def test_exposure_is_clipped_to_the_range_and_the_applied_value_returned(camera: Camera) -> None:
    low, high = camera.exposure_range_ms
    assert camera.set_exposure_ms(low / 10) == pytest.approx(low)
    assert camera.set_exposure_ms(high * 10) == pytest.approx(high)
    assert camera.set_exposure_ms(-5) == pytest.approx(low)
    inside = min(max(5.0, low), high)
    applied = camera.set_exposure_ms(inside)
    assert applied == camera.exposure_ms
    assert applied == pytest.approx(inside, rel=0.01)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "10", None, True])
def test_invalid_exposure_is_refused_and_nothing_changes(camera: Camera, bad: object) -> None:
    before = camera.exposure_ms
    with pytest.raises(CameraError, match="exposure"):
        camera.set_exposure_ms(bad)  # type: ignore[arg-type]
    assert camera.exposure_ms == before


def test_frame_shape_follows_binning(camera: Camera) -> None:
    sensor_h, sensor_w = camera.sensor_shape
    assert camera.roi == Roi(0, 0, sensor_w, sensor_h)
    for binning in camera.SUPPORTED_BINNING:
        assert camera.set_binning(binning) == binning
        roi = camera.roi
        assert camera.frame_shape == (roi.height // binning, roi.width // binning)
        assert roi.width % binning == 0 and roi.height % binning == 0


@pytest.mark.parametrize("bad", [3, 0, -1, 2.0, "2", None, True])
def test_unsupported_binning_is_refused(camera: Camera, bad: object) -> None:
    with pytest.raises(CameraError, match="binning"):
        camera.set_binning(bad)  # type: ignore[arg-type]
    assert camera.binning == 1


def test_binning_refits_the_requested_roi_and_restores_it(camera: Camera) -> None:
    step = camera.ROI_STEP
    requested = Roi(3 * step, 5 * step, 41 * step, 23 * step)
    assert camera.set_roi(*requested) == requested
    camera.set_binning(4)
    binned = camera.roi
    assert binned.width % 4 == 0 and binned.width <= requested.width
    assert camera.frame_shape == (binned.height // 4, binned.width // 4)
    camera.set_binning(1)
    assert camera.roi == requested


def test_roi_is_clipped_to_the_sensor(camera: Camera) -> None:
    sensor_h, sensor_w = camera.sensor_shape
    roi = camera.set_roi(-10, -10, 10 * sensor_w, 10 * sensor_h)
    assert roi == Roi(0, 0, sensor_w, sensor_h)
    roi = camera.set_roi(sensor_w + 100, 0, 50, 50)
    assert roi.x + roi.width <= sensor_w and roi.width >= camera.ROI_STEP
    assert camera.frame_shape == (roi.height, roi.width)


@pytest.mark.parametrize(
    "bad", [(0, 0, 0, 10), (0, 0, 10, -1), (0.5, 0, 10, 10), ("0", 0, 10, 10), (0, 0, None, 10)]
)
def test_invalid_roi_is_refused_and_nothing_changes(camera: Camera, bad: tuple) -> None:
    before = camera.roi
    with pytest.raises(CameraError, match="ROI"):
        camera.set_roi(*bad)
    assert camera.roi == before


def test_any_roi_request_gives_an_aligned_region_inside_the_sensor(camera: Camera) -> None:
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


def test_unknown_trigger_mode_is_refused(camera: Camera) -> None:
    with pytest.raises(CameraError, match="trigger mode"):
        camera.set_trigger_mode("software")
    assert camera.trigger_mode == "internal"


def test_settings_while_running_follow_live_settings(camera: Camera) -> None:
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


# -- contract: acquisition ------------------------------------------------------------------------


def test_frame_ids_count_from_zero_and_timestamps_increase(camera: Camera) -> None:
    camera.set_binning(2)
    camera.start()
    infos, frames = read_frames(camera, 12)
    assert [i.frame_id for i in infos] == list(range(12))
    camera_ts = [i.camera_ts for i in infos]
    host_ts = [i.host_ts for i in infos]
    assert all(b > a for a, b in itertools.pairwise(camera_ts))
    assert all(b >= a for a, b in itertools.pairwise(host_ts))
    assert all(f.shape == camera.frame_shape and f.dtype == np.uint16 for f in frames)


def test_stop_and_start_restart_frame_ids(camera: Camera) -> None:
    camera.start()
    read_frames(camera, 3)
    camera.stop()
    camera.start()
    infos, _ = read_frames(camera, 3)
    assert [i.frame_id for i in infos] == [0, 1, 2]


def test_read_times_out_with_none_when_not_running(camera: Camera) -> None:
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
def test_read_into_a_wrong_buffer_raises(camera: Camera, make_buffer: Callable) -> None:
    camera.set_binning(2)
    camera.start()
    with pytest.raises(CameraError, match="buffer"):
        camera.read_into(make_buffer(camera.frame_shape), READ_TIMEOUT_S)


def test_read_into_a_read_only_buffer_raises(camera: Camera) -> None:
    camera.start()
    buffer = np.empty(camera.frame_shape, dtype=camera.dtype)
    buffer.setflags(write=False)
    with pytest.raises(CameraError, match="read-only"):
        camera.read_into(buffer, READ_TIMEOUT_S)


def test_read_into_a_strided_view_fills_only_that_view(camera: Camera) -> None:
    """The ring hands out views into shared memory; the camera must write through them."""
    camera.start()
    height, width = camera.frame_shape
    backing = np.full((height, width + 3), 7, dtype=np.uint16)
    view = backing[:, 1 : width + 1]
    assert camera.read_into(view, READ_TIMEOUT_S) is not None
    assert np.all(backing[:, 0] == 7) and np.all(backing[:, width + 1 :] == 7)


def test_stop_from_another_thread_ends_a_blocked_read(camera: Camera) -> None:
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


def test_start_twice_is_refused(camera: Camera) -> None:
    camera.start()
    with pytest.raises(CameraError, match="already running"):
        camera.start()


def test_a_closed_camera_refuses_work_and_close_is_idempotent(camera: Camera) -> None:
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


# -- the simulated camera -------------------------------------------------------------------------


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel() - a.mean()
    b = b.astype(np.float64).ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def best_plane(camera: SimulatedCamera, frame: np.ndarray, planes: tuple[float, ...]) -> float:
    scores = [correlation(frame, camera.expected_image(z)) for z in planes]
    return planes[int(np.argmax(scores))]


def test_every_frame_differs_even_on_the_same_plane() -> None:
    with small_simulated() as camera:
        camera.start()
        _, frames = read_frames(camera, 4 * len(PLANES_UM))
    assert len({f.tobytes() for f in frames}) == len(frames)


def test_internal_mode_steps_through_the_volume_planes() -> None:
    with small_simulated(sensor_width=256, sensor_height=256) as camera:
        camera.start()
        infos, frames = read_frames(camera, 2 * len(PLANES_UM))
        for info, frame in zip(infos, frames, strict=True):
            expected = PLANES_UM[info.frame_id % len(PLANES_UM)]
            assert best_plane(camera, frame, PLANES_UM) == expected
            assert correlation(frame, camera.expected_image(expected)) > 0.8


def test_camera_timestamps_are_one_frame_period_apart() -> None:
    with small_simulated(readout_ms=1.5, exposure_ms=2.0) as camera:
        camera.start()
        infos, _ = read_frames(camera, 6)
    steps = np.diff([i.camera_ts for i in infos])
    assert steps == pytest.approx(np.full(5, 0.0035), abs=1e-9)


def test_stamped_frame_id_decodes_from_the_first_pixels() -> None:
    with small_simulated(stamp_frame_id=True, drop_frame_ids=[1]) as camera:
        camera.start()
        infos, frames = read_frames(camera, 5)
    assert [decode_frame_id(f) for f in frames] == [i.frame_id for i in infos] == [0, 2, 3, 4, 5]


def test_stamp_holds_ids_beyond_16_bits() -> None:
    triggers = QueuedTriggers()
    camera = small_simulated(
        stamp_frame_id=True, drop_frame_ids=range(70_000), trigger_source=triggers
    )
    with camera:
        camera.set_trigger_mode("external")
        camera.start()
        now = time.monotonic()
        for _ in range(70_001):
            triggers.fire(at=now)
        infos, frames = read_frames(camera, 1)
    assert infos[0].frame_id == 70_000 == decode_frame_id(frames[0])


def test_dropped_frame_ids_leave_a_gap_without_shifting_planes() -> None:
    with small_simulated(drop_frame_ids=[2, 5, 6], sensor_width=256, sensor_height=256) as camera:
        camera.start()
        infos, frames = read_frames(camera, 5)
        assert [i.frame_id for i in infos] == [0, 1, 3, 4, 7]
        for info, frame in zip(infos, frames, strict=True):
            assert best_plane(camera, frame, PLANES_UM) == PLANES_UM[info.frame_id % 3]
    gap = infos[4].camera_ts - infos[3].camera_ts
    step = infos[1].camera_ts - infos[0].camera_ts
    assert gap == pytest.approx(3 * step, rel=1e-9)


def test_bright_pixels_saturate_and_dark_pixels_never_wrap() -> None:
    options = {"dark_offset": 0.0, "read_noise": 4.0, "brightness": 1e6}
    with small_simulated(**options) as camera:
        camera.start()
        _, frames = read_frames(camera, 3)
        expected = camera.expected_image(PLANES_UM[0])
    frame = frames[0]
    saturated = expected > 70_000
    dark = expected < 1.0
    assert saturated.sum() > 10 and dark.sum() > 1000
    assert np.all(frame[saturated] == 65535)
    assert frame[dark].max() <= 24  # 6 sigma of read noise; a wrapped value would be ~65535
    assert np.any(frame[dark] == 0)  # the clipped pixels exist: negative noise hit the floor


def test_noise_is_shot_plus_read_noise_around_the_expected_image() -> None:
    read_noise = 2.0
    with small_simulated(read_noise=read_noise, sensor_width=256, sensor_height=256) as camera:
        camera.start()
        _, frames = read_frames(camera, 1)
        expected = camera.expected_image(PLANES_UM[0])
    dark = expected - 100.0 < 0.01
    residual = frames[0].astype(np.float64) - expected
    assert residual[dark].mean() == pytest.approx(0.0, abs=0.1)
    assert residual[dark].std() == pytest.approx(read_noise, rel=0.1)
    lit = expected - 100.0 > 20
    assert lit.sum() > 200
    z = residual[lit] / np.sqrt(expected[lit] - 100.0 + read_noise**2)
    assert z.std() == pytest.approx(1.0, abs=0.15)


def test_exposure_may_change_while_running_and_scales_the_signal() -> None:
    with small_simulated(exposure_ms=1.0) as camera:
        camera.start()
        first, frames = read_frames(camera, 3)
        camera.set_exposure_ms(4.0)
        later, brighter = read_frames(camera, 3)
        dimmer_signal = camera.expected_image(PLANES_UM[0]) - 100.0
    assert [i.frame_id for i in first + later] == list(range(6))
    signal_before = frames[0].astype(np.float64).sum() - 100.0 * frames[0].size
    signal_after = brighter[0].astype(np.float64).sum() - 100.0 * brighter[0].size
    assert signal_after / signal_before == pytest.approx(4.0, rel=0.05)
    assert dimmer_signal.sum() == pytest.approx(signal_after, rel=0.05)


def test_roi_and_binning_show_the_same_sample() -> None:
    with small_simulated(sensor_width=256, sensor_height=256) as camera:
        full = camera.expected_image(PLANES_UM[1]) - 100.0
        camera.set_roi(64, 32, 128, 96)
        crop = camera.expected_image(PLANES_UM[1]) - 100.0
        camera.set_binning(2)
        binned = camera.expected_image(PLANES_UM[1]) - 100.0
    region = full[32:128, 64:192]
    np.testing.assert_allclose(crop, region, rtol=1e-4, atol=1e-3)
    summed = region.reshape(48, 2, 64, 2).sum(axis=(1, 3))
    assert correlation(binned, summed) > 0.98
    assert binned.sum() == pytest.approx(summed.sum(), rel=0.02)


class QueuedTriggers:
    """Trigger pulses the test fires by hand, as the simulated DAQ board fires them by its clock."""

    def __init__(self) -> None:
        self._times: queue.Queue[float] = queue.Queue()
        self.resets = 0

    def fire(self, at: float | None = None) -> float:
        t = time.monotonic() if at is None else at
        self._times.put(t)
        return t

    def reset(self) -> None:
        self.resets += 1

    def wait_trigger(self, timeout_s: float) -> float | None:
        try:
            return self._times.get(timeout=timeout_s)
        except queue.Empty:
            return None


def test_external_mode_makes_one_frame_per_trigger_at_the_z_of_the_source() -> None:
    triggers = QueuedTriggers()
    z_values = iter([40.0, 0.06, 20.0])  # 0.06 µm is within snapping distance of plane 0
    camera = small_simulated(
        sensor_width=256,
        sensor_height=256,
        trigger_source=triggers,
        z_source=lambda _start: next(z_values),
    )
    with camera:
        camera.set_trigger_mode("external")
        buffer = np.empty(camera.frame_shape, camera.dtype)
        triggers.fire(at=time.monotonic() - 60.0)  # before the start: ignored
        camera.start()
        assert triggers.resets == 1
        assert camera.read_into(buffer, 0.01) is None
        fired = [triggers.fire() for _ in range(3)]
        infos, frames = read_frames(camera, 3)
        assert [i.frame_id for i in infos] == [0, 1, 2]
        planes = [best_plane(camera, f, PLANES_UM) for f in frames]
    assert planes == [40.0, 0.0, 20.0]
    assert np.diff([i.camera_ts for i in infos]) == pytest.approx(np.diff(fired), abs=1e-9)


def test_a_late_camera_exposes_and_stamps_its_frames_the_delay_after_each_trigger() -> None:
    triggers = QueuedTriggers()
    starts: list[float] = []

    def z_at(start: float) -> float:
        starts.append(start)
        return 40.0 if len(starts) == 1 else 20.0

    camera = small_simulated(exposure_delay_ms=30.0, trigger_source=triggers, z_source=z_at)
    with camera:
        camera.set_trigger_mode("external")
        camera.start()
        fired = [triggers.fire(), triggers.fire()]
        infos, frames = read_frames(camera, 2)
        planes = [best_plane(camera, f, PLANES_UM) for f in frames]
    assert starts == pytest.approx([t + 0.030 for t in fired], abs=1e-12)
    assert planes == [40.0, 20.0]  # the z of the late exposure, not of the trigger
    assert infos[1].camera_ts - infos[0].camera_ts == pytest.approx(fired[1] - fired[0], abs=1e-9)


def test_a_negative_exposure_delay_is_refused() -> None:
    with pytest.raises(CameraError, match="exposure_delay_ms"):
        small_simulated(exposure_delay_ms=-1.0)


def test_external_mode_without_a_trigger_source_refuses_to_start() -> None:
    with small_simulated() as camera:
        camera.set_trigger_mode("external")
        with pytest.raises(CameraError, match="trigger source"):
            camera.start()


def test_invalid_simulation_options_are_refused() -> None:
    with pytest.raises(CameraError, match="z position"):
        SimulatedCamera([])
    with pytest.raises(CameraError, match="read_noise"):
        small_simulated(read_noise=-1.0)
    with pytest.raises(CameraError, match="drop_frame_ids"):
        small_simulated(drop_frame_ids=[-3])


# -- the factory ----------------------------------------------------------------------------------


def camera_config(**changes: object) -> SimpleNamespace:
    cfg = SimpleNamespace(
        backend="simulated",
        exposure_ms=2.0,
        binning=2,
        sensor_width=128,
        sensor_height=96,
        roi=SimpleNamespace(x=8, y=4, width=64, height=48),
        trigger_mode="internal",
        pixel_size_um=0.5,
        readout_ms=1.0,
        simulated=SimpleNamespace(
            seed=1,
            dark_offset=90.0,
            read_noise=1.0,
            photons_per_count=2.0,
            brightness=100.0,
            n_beads=500,
            stamp_frame_id=True,
            drop_frame_ids=[],
        ),
    )
    for name, value in changes.items():
        setattr(cfg, name, value)
    return cfg


def test_open_camera_applies_the_config() -> None:
    camera = open_camera(camera_config(), [0.0, 5.0])
    with camera:
        assert isinstance(camera, SimulatedCamera)
        assert camera.is_open and camera.sensor_shape == (96, 128)
        assert camera.roi == Roi(8, 4, 64, 48) and camera.frame_shape == (24, 32)
        assert camera.exposure_ms == 2.0 and camera.trigger_mode == "internal"
        camera.start()
        infos, frames = read_frames(camera, 2)
        assert decode_frame_id(frames[1]) == infos[1].frame_id == 1


def test_open_camera_clips_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    roi = SimpleNamespace(x=100, y=0, width=500, height=None)
    with open_camera(camera_config(roi=roi, binning=1), [0.0]) as camera:
        assert camera.roi == Roi(100, 0, 28, 96)
    assert "ROI" in caplog.text


def test_open_camera_refuses_unknown_backends_and_bad_settings() -> None:
    with pytest.raises(CameraError, match="unknown camera backend 'acme'"):
        open_camera(camera_config(backend="acme"), [0.0])
    with pytest.raises(CameraError, match="binning"):
        open_camera(camera_config(binning=3), [0.0])


def test_sample_reference_renders_the_sample_the_camera_images() -> None:
    cfg = camera_config()
    planes = [0.0, 5.0]
    render = sample_reference(cfg, planes)
    assert render is not None
    pixel = cfg.pixel_size_um * cfg.binning
    origin = (cfg.roi.y * cfg.pixel_size_um, cfg.roi.x * cfg.pixel_size_um)
    with open_camera(cfg, planes) as camera:
        for z in (0.0, 2.5, 5.0):
            image = render(z, camera.frame_shape, pixel, origin)
            # The camera's expected counts are the same emission scaled, plus its dark offset.
            assert correlation(image, camera.expected_image(z)) > 0.9999
    assert sample_reference(camera_config(backend="acme"), planes) is None


def test_brightness_is_the_photon_rate_at_the_brightest_bead() -> None:
    options = {"brightness": 500.0, "exposure_ms": 4.0, "dark_offset": 100.0}
    with small_simulated(sensor_width=256, sensor_height=256, **options) as camera:
        peaks = [camera.expected_image(z).max() - 100.0 for z in np.arange(-5.0, 45.0, 0.5)]
    # No bead is brighter than the brightest possible one, in focus and centred on a pixel;
    # the brightest of many comes close.
    assert max(peaks) <= 500.0 * 4.0 * 1.05
    assert max(peaks) >= 500.0 * 4.0 * 0.3


def test_open_camera_takes_the_config_model_defaults() -> None:
    from lightsheet.config.models import CameraConfig

    cfg = CameraConfig()
    with open_camera(cfg, [0.0, 2.0]) as camera:
        assert camera.roi == Roi(0, 0, cfg.sensor_width, cfg.sensor_height)
        assert camera.exposure_ms == cfg.exposure_ms and camera.binning == cfg.binning

"""The shipped camera contract run against the simulated camera, then what only it promises.

The contract itself lives in ``lightsheet.testing.camera_contract``; a real SDK backend gets it by
subclassing ``CameraContract`` the same way (skipping in ``make_camera`` when its camera is absent).
"""

from __future__ import annotations

import queue
import time
from types import SimpleNamespace

import numpy as np
import pytest

from lightsheet.hardware.camera.factory import open_camera, sample_reference
from lightsheet.hardware.camera.protocol import Camera, CameraError, Roi
from lightsheet.hardware.camera.simulated import SimulatedCamera, decode_frame_id
from lightsheet.testing.camera_contract import CameraContract, read_frames

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


class TestSimulatedCamera(CameraContract):
    """Every contract test, against the simulated camera."""

    def make_camera(self) -> Camera:
        return small_simulated()


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

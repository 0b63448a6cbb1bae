"""The pylablib adapter (dcam, andor3, pco, pvcam) up to the vendor library boundary.

No vendor SDK exists here, so these are boundary tests: the camera contract through the adapter
against pylablib's real common camera classes over a simulated sensor (``pylablib_sim``), the
real DCAM/Andor/PCO/PVCAM classes of pylablib as far as they get without their vendor library,
and the adapter's per-SDK profiles checked against those real classes. On a rig,
``pytest -m hardware`` runs the contract against the real cameras (test_camera_hardware.py).
"""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

from lightsheet.hardware.camera.backends import BackendUnavailable
from lightsheet.hardware.camera.factory import build_camera
from lightsheet.hardware.camera.protocol import Camera, CameraError, FrameInfo
from lightsheet.hardware.camera.pylablib_cameras import PylablibCamera
from lightsheet.hardware.camera.pylablib_profiles import PROFILES
from lightsheet.testing.camera_contract import CameraContract
from tests.hardware.pylablib_sim import SIMULATED_PROFILE, SimulatedSdkCamera, sensor_image

pytestmark = pytest.mark.boundary
READ_TIMEOUT_S = 5.0


def simulated(**options: object) -> PylablibCamera:
    sensor = {k: options.pop(k) for k in ("lost_framestamps",) if k in options}
    return PylablibCamera(SIMULATED_PROFILE, opener=lambda: SimulatedSdkCamera(**sensor), **options)  # type: ignore[arg-type]


class TestPylablibBoundary(CameraContract):
    """The contract through pylablib's real common camera classes over a simulated sensor."""

    def make_camera(self) -> Camera:
        return simulated()


# -- the adapter over pylablib's common interface -------------------------------------------------


def read(camera: Camera, count: int) -> list[tuple[FrameInfo, np.ndarray]]:
    frames = []
    for _ in range(count):
        buffer = np.empty(camera.frame_shape, np.uint16)
        info = camera.read_into(buffer, READ_TIMEOUT_S)
        assert info is not None
        frames.append((info, buffer))
    return frames


def test_frames_ids_follow_the_cameras_own_counter_across_its_losses() -> None:
    with simulated(lost_framestamps=(3, 4, 8)) as camera:
        camera.set_roi(16, 8, 64, 32)
        camera.set_exposure_ms(2.0)
        camera.start()
        frames = read(camera, 6)
    assert [info.frame_id for info, _ in frames] == [0, 1, 4, 5, 6, 8]
    for info, frame in frames:
        np.testing.assert_array_equal(frame, sensor_image((32, 64), info.frame_id + 1))
    stamps = [info.camera_ts for info, _ in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_frames_the_sdk_ring_overwrote_leave_a_gap() -> None:
    """The SDK's ring holds buffer_frames; frames overwritten before they were read are skipped
    by pylablib and show as a jump in the frame ids, never as shifted frames."""
    with simulated(buffer_frames=4) as camera:
        camera.set_roi(0, 0, 32, 32)
        camera.set_exposure_ms(1.0)
        camera.start()
        first = read(camera, 1)[0][0]
        sdk = camera._cam
        target = sdk._acquired + 10
        while sdk._acquired < target:  # the camera runs on while nobody reads
            sdk.wait_for_frame(since="now", timeout=READ_TIMEOUT_S)
        later = read(camera, 4)
    ids = [first.frame_id] + [info.frame_id for info, _ in later]
    assert ids[1] - ids[0] > 1 and ids[1:] == list(range(ids[1], ids[1] + 4))
    for info, frame in later:
        np.testing.assert_array_equal(frame, sensor_image((32, 32), info.frame_id + 1))


def test_external_trigger_gives_one_frame_per_edge() -> None:
    with simulated() as camera:
        camera.set_roi(0, 0, 16, 16)
        camera.set_trigger_mode("external")
        camera.start()
        buffer = np.empty((16, 16), np.uint16)
        assert camera.read_into(buffer, 0.2) is None
        for _ in range(3):
            camera._cam.fire_trigger()
        frames = read(camera, 3)
        assert camera.read_into(buffer, 0.2) is None
    assert [info.frame_id for info, _ in frames] == [0, 1, 2]


def test_a_trigger_edge_the_sdk_cannot_choose_is_refused() -> None:
    with simulated(trigger_edge="falling") as camera:
        with pytest.raises(CameraError, match="cannot choose the trigger edge"):
            camera.set_trigger_mode("external")
        camera.set_trigger_mode("internal")


def test_the_label_names_model_and_serial() -> None:
    with simulated() as camera:
        assert camera.label == "SimCam 2000 (serial SIM0001)"
        assert camera.sensor_shape == (384, 512) and camera.ROI_STEP == 8  # min size 8


# -- pylablib's real DCAM, Andor SDK3, PCO and PVCAM classes --------------------------------------


@pytest.mark.parametrize("backend", sorted(PROFILES))
def test_the_real_sdk_class_stops_at_its_vendor_library_with_one_line(backend: str) -> None:
    cfg = type("Cfg", (), {"backend": backend, "device": "", "trigger_edge": "rising"})()
    camera = build_camera(cfg)
    with pytest.raises(BackendUnavailable) as refused:
        camera.open()
    message = str(refused.value)
    assert message.startswith(f"{backend}: ") and "\n" not in message
    assert not camera.is_open


def real_module(backend: str):
    try:
        return importlib.import_module(PROFILES[backend].module)
    except ImportError as exc:
        first = str(exc).splitlines()[0]
        pytest.skip(f"pylablib's {backend} module does not import on this platform: {first}")


@pytest.mark.parametrize("backend", sorted(PROFILES))
def test_profiles_match_pylablibs_real_classes(backend: str) -> None:
    profile = PROFILES[backend]
    module = real_module(backend)
    real = getattr(module, profile.class_name)
    assert issubclass(real, camera_interfaces())
    for method in (
        "set_roi",
        "get_roi_limits",
        "get_detector_size",
        "set_exposure",
        "start_acquisition",
        "wait_for_frame",
        "read_oldest_image",
        "set_trigger_mode",
    ):
        assert callable(getattr(real, method))
    fields = real._TFrameInfo._fields
    assert profile.counter_field is None or profile.counter_field in fields
    assert profile.timestamp is None or profile.timestamp[0] in fields
    device_fields = vars(importlib.import_module(real.__module__))["TDeviceInfo"]._fields
    assert {profile.serial_field, profile.model_field} <= set(device_fields)
    modes = getattr(real, "_p_trigger_mode", None)
    if modes is not None:  # DCAM learns its trigger modes from the camera
        for name in profile.internal_modes + profile.external_modes:
            assert modes(name) is not None


def camera_interfaces() -> tuple[type, ...]:
    from pylablib.devices.interface import camera

    return (camera.IBinROICamera, camera.IExposureCamera)

"""Scientific sCMOS cameras (Hamamatsu DCAM, Andor SDK3, PCO, Photometrics PVCAM) through
pylablib's common camera interface, one adapter for all four (``pylablib_profiles`` holds what
differs).

The SDK keeps its own ring of ``buffer_frames`` frames (``start_acquisition(nframes=...)``);
``read_into`` takes the oldest unread one and copies it into the caller's buffer. Frame ids come
from the camera's own frame counter where the SDK reports one (else pylablib's frame index, which
also jumps over frames the ring overwrote), timestamps from the camera's clock where it has one.
pylablib hands out frames as new arrays, so frames are copied once more than with Aravis.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lightsheet.hardware.camera.frame_ids import FrameCounter
from lightsheet.hardware.camera.protocol import Camera, CameraError, FrameInfo, Roi
from lightsheet.hardware.camera.pylablib_profiles import (
    PROFILES,
    SdkProfile,
    library_unavailable,
    load_sdk,
)

WAIT_SLICE_S = 0.05  # a blocked read notices stop() within this


class PylablibCamera(Camera):
    """One camera of ``profile``; ``device`` is an index, a serial number (or PVCAM camera name),
    or "" for the only camera present. ``opener`` replaces opening through the SDK (tests)."""

    LIVE_SETTINGS = frozenset({"exposure"})

    def __init__(
        self,
        profile: SdkProfile,
        device: str = "",
        *,
        trigger_edge: str = "rising",
        buffer_frames: int = 16,
        opener: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__()
        if trigger_edge not in ("rising", "falling") or int(buffer_frames) < 2:
            raise CameraError(f"{profile.name}: trigger_edge rising|falling, buffer_frames >= 2")
        self.profile = profile
        self._device = str(device).strip()
        self._edge = trigger_edge
        self._buffer_frames = int(buffer_frames)
        self._opener = opener or self._open_sdk
        self._cam: Any = None
        self._sensor: tuple[int, int] | None = None
        self._limits_s = (0.0, 0.0)
        self._seconds_per_tick = 0.0
        self._halt = threading.Event()
        self._halt.set()
        self._read_lock = threading.Lock()
        self._counter = FrameCounter()
        self._label = f"{profile.name} {self._device or '(any)'}"

    @property
    def label(self) -> str:
        return self._label

    @property
    def sensor_shape(self) -> tuple[int, int]:
        if self._sensor is None:
            raise CameraError(f"{self.profile.name}: open the camera first to learn its sensor")
        return self._sensor

    @property
    def exposure_range_ms(self) -> tuple[float, float]:
        return self._limits_s[0] * 1000.0, self._limits_s[1] * 1000.0

    # -- open and close ----------------------------------------------------------------------------

    def _do_open(self) -> None:
        self._cam = self._sdk_call("open the camera", self._opener)
        try:
            self._sdk_call("read the camera's limits", self._inspect)
        except BaseException:
            self._cam.close()
            self._cam = None
            raise

    def _inspect(self) -> None:
        cam, profile = self._cam, self.profile
        if profile.prepare is not None:
            profile.prepare(cam)
        width, height = cam.get_detector_size()
        self._sensor = (int(height), int(width))
        self._limits_s = profile.exposure_limits(cam)
        hlim, vlim = cam.get_roi_limits(1, 1)
        top = min(hlim.maxbin, vlim.maxbin)
        self.SUPPORTED_BINNING = tuple(b for b in (1, 2, 4) if b <= top)
        # Every multiple of the step must be a valid size, so the minimum size is a step too.
        self.ROI_STEP = math.lcm(
            *(max(int(s), 1) for s in (*hlim[:1], *hlim[2:4], *vlim[:1], *vlim[2:4]))
        )
        if profile.timestamp is not None:
            self._seconds_per_tick = float(profile.timestamp[1](cam))
        info = cam.get_device_info()
        model = getattr(info, profile.model_field, "") or profile.vendor
        self._label = f"{model} (serial {getattr(info, profile.serial_field, '?')})"
        self._exposure_ms = float(cam.get_exposure()) * 1000.0

    def _open_sdk(self) -> Any:
        module = load_sdk(self.profile)
        opened = getattr(module, self.profile.class_name)
        try:
            ids = self.profile.list_ids(module)
        except OSError as exc:
            raise library_unavailable(self.profile, exc) from None
        if self._device.isdigit() and self.profile.name != "pvcam":
            return opened(**self.profile.open_kwargs(int(self._device)))
        if self._device in ids:  # a PVCAM camera name
            return opened(**self.profile.open_kwargs(self._device))
        if not self._device:
            if len(ids) != 1:
                raise CameraError(
                    f"{self.profile.name}: {len(ids)} cameras found; name one in "
                    "camera.device (index or serial number)"
                )
            return opened(**self.profile.open_kwargs(ids[0]))
        return self._open_by_serial(opened, ids)

    def _open_by_serial(self, opened: Callable[..., Any], ids: list[Any]) -> Any:
        for camera_id in ids:
            cam = opened(**self.profile.open_kwargs(camera_id))
            serial = getattr(cam.get_device_info(), self.profile.serial_field, None)
            if str(serial).strip() == self._device:
                return cam
            cam.close()
        raise CameraError(f"{self.profile.name}: no camera with serial number {self._device!r}")

    def _do_close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            self._sdk_call("close the camera", cam.close)

    # -- settings ----------------------------------------------------------------------------------

    def _do_set_exposure_ms(self, exposure_ms: float) -> float:
        self._sdk_call("set the exposure", self._cam.set_exposure, exposure_ms / 1000.0)
        return float(self._cam.get_exposure()) * 1000.0

    def _do_set_binning(self, binning: int) -> None:
        if binning not in self.SUPPORTED_BINNING:  # the protocol checked; the SDK may differ
            raise CameraError(f"{self.profile.name}: binning {binning} is not supported")

    def _do_set_roi(self, roi: Roi) -> None:
        b = self.binning
        wanted = (roi.x, roi.x + roi.width, roi.y, roi.y + roi.height, b, b)
        self._sdk_call("set the region of interest", self._cam.set_roi, *wanted)
        applied = tuple(int(v) for v in self._cam.get_roi())
        if applied != wanted:
            raise CameraError(
                f"{self.profile.name}: the camera applied the region {applied} instead of {wanted}"
            )

    def _do_set_trigger_mode(self, mode: str) -> None:
        names = self.profile.internal_modes if mode == "internal" else self.profile.external_modes
        errors = []
        for name in names:
            try:
                self._cam.set_trigger_mode(name)
                break
            except Exception as exc:
                errors.append(f"{name}: {_first_line(exc)}")
        else:
            raise CameraError(f"{self.profile.name}: no {mode} trigger mode ({'; '.join(errors)})")
        if mode == "external":
            self._set_edge()

    def _set_edge(self) -> None:
        falling = self._edge == "falling"
        if self.profile.falling_edge is not None:
            self._sdk_call("set the trigger edge", self.profile.falling_edge, self._cam, falling)
        elif falling:
            raise CameraError(
                f"{self.profile.name}: pylablib cannot choose the trigger edge of "
                f"{self.profile.vendor} cameras; use camera.trigger_edge: rising"
            )

    # -- acquisition -------------------------------------------------------------------------------

    def _do_start(self) -> None:
        self._counter = FrameCounter()
        self._sdk_call("start", self._cam.start_acquisition, nframes=self._buffer_frames)
        self._halt.clear()

    def _do_stop(self) -> None:
        self._halt.set()
        with self._read_lock:  # a read blocked in another thread leaves within WAIT_SLICE_S
            self._sdk_call("stop", self._cam.stop_acquisition)

    def _do_read_into(self, buffer: np.ndarray, timeout_s: float) -> FrameInfo | None:
        deadline = time.monotonic() + timeout_s
        with self._read_lock:
            while not self._halt.is_set():
                oldest = self._sdk_call(
                    "read a frame", self._cam.read_oldest_image, peek=False, return_info=True
                )
                if oldest is not None:
                    frame, info = oldest
                    return self._deliver(frame, info, buffer)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    running = self._cam.wait_for_frame(
                        since="lastread", nframes=1, timeout=min(left, WAIT_SLICE_S)
                    )
                except self._cam.TimeoutError:
                    continue
                except Exception as exc:
                    raise CameraError(f"{self.profile.name}: {_first_line(exc)}") from None
                if running is False:
                    raise CameraError(f"{self.profile.name}: the camera stopped acquiring")
        return None

    def _deliver(self, frame: np.ndarray, info: Any, buffer: np.ndarray) -> FrameInfo:
        if frame.shape != buffer.shape or not np.can_cast(frame.dtype, buffer.dtype, "safe"):
            raise CameraError(
                f"{self.profile.name}: the camera sent a {frame.dtype} {frame.shape} frame, "
                f"{buffer.dtype} {buffer.shape} was set"
            )
        np.copyto(buffer, frame)
        host_ts = time.time()
        counter = getattr(info, self.profile.counter_field or "", None)
        if counter is None:
            counter = getattr(info, "frame_index", None)
        # +1: FrameCounter reads 0 as "no counter", and SDK counters may start at 0.
        frame_id = self._counter.advance(None if counter is None else int(counter) + 1)
        stamp = None
        if self.profile.timestamp is not None:
            stamp = getattr(info, self.profile.timestamp[0], None)
        camera_ts = stamp * self._seconds_per_tick if stamp is not None else time.monotonic()
        return FrameInfo(frame_id, float(camera_ts), host_ts)

    def _sdk_call(self, action: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except CameraError:
            raise
        except OSError as exc:
            raise library_unavailable(self.profile, exc) from None
        except Exception as exc:  # pylablib's DeviceError family and ValueError
            raise CameraError(f"{self.profile.name}: cannot {action}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def from_config(cfg: Any, buffer_frames: int = 16) -> PylablibCamera:
    """The camera a ``camera`` config section with a pylablib backend describes (not opened)."""
    profile = PROFILES.get(str(getattr(cfg, "backend", "")))
    if profile is None:
        raise CameraError(f"{getattr(cfg, 'backend', None)!r} is not a pylablib camera backend")
    return PylablibCamera(
        profile,
        str(getattr(cfg, "device", "") or ""),
        trigger_edge=str(getattr(cfg, "trigger_edge", "rising")),
        buffer_frames=buffer_frames,
    )

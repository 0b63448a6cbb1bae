"""A camera at pylablib's vendor-library boundary: pylablib's real common camera classes
(``IBinROICamera``, ``IExposureCamera``: frame counter, ring trimming, ``wait_for_frame``,
``read_multiple_images``, ROI truncation) over a simulated sensor where DCAM, Andor SDK3, PCO or
PVCAM would call their C library.

Like a DCAM camera it reports a ``framestamp`` (the camera's own frame counter, which jumps over
frames lost inside the camera: ``lost_framestamps``) and a ``timestamp_us``. Frame k of a start,
counted by framestamp f, holds ``(y + x + f) % 65536``.
"""

from __future__ import annotations

import collections
import queue
import threading
import time

import numpy as np
from pylablib.core.devio.comm_backend import DeviceError
from pylablib.devices.interface import camera

from lightsheet.hardware.camera.pylablib_profiles import SdkProfile

TFrameInfo = collections.namedtuple("TFrameInfo", ["frame_index", "framestamp", "timestamp_us"])
TDeviceInfo = collections.namedtuple("TDeviceInfo", ["model", "serial_number"])
EXPOSURE_LIMITS_S = (1e-5, 10.0)
ROI_STEP = 4


class SimulatedSdkError(DeviceError):
    """What a pylablib camera raises for SDK errors."""


class SimulatedSdkTimeout(SimulatedSdkError):
    """What a pylablib camera raises when a wait times out."""


def sensor_image(shape: tuple[int, int], framestamp: int) -> np.ndarray:
    ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1])) + framestamp
    return (ramp % 65536).astype(np.uint16)


class SimulatedSdkCamera(camera.IBinROICamera, camera.IExposureCamera):
    Error = SimulatedSdkError
    TimeoutError = SimulatedSdkTimeout
    _TFrameInfo = TFrameInfo

    def __init__(self, width: int = 512, height: int = 384, lost_framestamps: tuple = ()) -> None:
        super().__init__()
        self._size = (width, height)
        self._roi = (0, width, 0, height, 1, 1)
        self._exposure = 0.01
        self._trigger = "int"
        self._lost = set(lost_framestamps)
        self._ring: list[tuple[np.ndarray, TFrameInfo]] = []
        self._acquired = 0
        self._triggers: queue.Queue[float] = queue.Queue()
        self._new_frame = threading.Condition()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False
        self.open()

    # -- connection and identity -----------------------------------------------------------------

    def open(self) -> None:
        self._opened = True

    def close(self) -> None:
        self.stop_acquisition()
        self._opened = False

    def is_opened(self) -> bool:
        return self._opened

    def get_device_info(self) -> TDeviceInfo:
        return TDeviceInfo("SimCam 2000", "SIM0001")

    def get_detector_size(self) -> tuple[int, int]:
        return self._size

    # -- settings ---------------------------------------------------------------------------------

    def get_roi_limits(self, hbin: int = 1, vbin: int = 1) -> tuple:
        width, height = self._size
        return (
            camera.TAxisROILimit(8, width, ROI_STEP, ROI_STEP, 4),
            camera.TAxisROILimit(8, height, ROI_STEP, ROI_STEP, 4),
        )

    def set_roi(self, hstart=0, hend=None, vstart=0, vend=None, hbin=1, vbin=1) -> tuple:
        if self.acquisition_in_progress():
            raise SimulatedSdkError("the ROI cannot change while acquiring")
        hlim, vlim = self.get_roi_limits(hbin, vbin)
        hstart, hend, hbin = camera.truncate_roi_axis((hstart, hend, hbin), hlim)
        vstart, vend, vbin = camera.truncate_roi_axis((vstart, vend, vbin), vlim)
        self._roi = (hstart, hend, vstart, vend, hbin, vbin)
        return self.get_roi()

    def get_roi(self) -> tuple:
        return self._roi

    def _get_data_dimensions_rc(self) -> tuple[int, int]:
        hstart, hend, vstart, vend, hbin, vbin = self._roi
        return (vend - vstart) // vbin, (hend - hstart) // hbin

    def set_exposure(self, exposure: float) -> float:
        self._exposure = min(max(float(exposure), EXPOSURE_LIMITS_S[0]), EXPOSURE_LIMITS_S[1])
        return self.get_exposure()

    def get_exposure(self) -> float:
        return self._exposure

    def get_frame_timings(self) -> camera.TAcqTimings:
        return camera.TAcqTimings(self._exposure, self._exposure)

    def set_trigger_mode(self, mode: str) -> str:
        if mode not in ("int", "ext"):
            raise ValueError(f"unknown trigger mode {mode!r}")
        self._trigger = mode
        return mode

    def fire_trigger(self) -> None:
        """An edge on the camera's trigger input."""
        self._triggers.put(time.monotonic())

    # -- acquisition ------------------------------------------------------------------------------

    def setup_acquisition(self, mode: str = "sequence", nframes: int = 100) -> dict:
        super().setup_acquisition(mode=mode, nframes=nframes)
        self._ring = [None] * int(nframes)  # type: ignore[list-item]
        return self._acq_params

    def start_acquisition(self, *args, **kwargs) -> None:
        self.stop_acquisition()
        super().start_acquisition(*args, **kwargs)
        self._frame_counter.reset(len(self._ring))
        self._acquired = 0
        self._halt.clear()
        self._thread = threading.Thread(target=self._sensor, daemon=True)
        self._thread.start()

    def stop_acquisition(self) -> None:
        if self.acquisition_in_progress():
            self._halt.set()
            self._thread.join(10.0)
            self._frame_counter.update_acquired_frames(self._get_acquired_frames())
        self._thread = None

    def acquisition_in_progress(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _get_acquired_frames(self) -> int | None:
        return self._acquired if self._ring else None

    def _wait_for_next_frame(self, timeout: float = 20.0, idx: int | None = None) -> None:
        with self._new_frame:
            self._new_frame.wait(min(0.1, timeout if timeout is not None else 0.1))

    def _read_frames(self, rng: tuple[int, int], return_info: bool = False) -> tuple:
        slots = [self._ring[i % len(self._ring)] for i in range(*rng)]
        return [frame.copy() for frame, _ in slots], [info for _, info in slots]

    def _sensor(self) -> None:
        """The camera's side: one exposure per period (internal) or per trigger (external)."""
        framestamp = 0
        started = time.monotonic()
        while not self._halt.is_set():
            if self._trigger == "int":
                if self._halt.wait(self._exposure):
                    return
            else:
                try:
                    self._triggers.get(timeout=0.05)
                except queue.Empty:
                    continue
            framestamp += 1
            if framestamp in self._lost:
                continue
            shape = self._get_data_dimensions_rc()
            stamp_us = int((time.monotonic() - started) * 1e6)
            info = TFrameInfo(self._acquired, framestamp, stamp_us)
            self._ring[self._acquired % len(self._ring)] = (sensor_image(shape, framestamp), info)
            with self._new_frame:
                self._acquired += 1
                self._new_frame.notify_all()


SIMULATED_PROFILE = SdkProfile(
    name="simsdk",
    vendor="simulated SDK",
    module="tests.hardware.pylablib_sim",
    class_name="SimulatedSdkCamera",
    internal_modes=("int",),
    external_modes=("ext",),
    serial_field="serial_number",
    model_field="model",
    counter_field="framestamp",
    timestamp=("timestamp_us", lambda cam: 1e-6),
    exposure_limits=lambda cam: EXPOSURE_LIMITS_S,
    list_ids=lambda module: [0],
    open_kwargs=lambda idx: {},
)

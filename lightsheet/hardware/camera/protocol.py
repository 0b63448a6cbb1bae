"""The camera protocol: settings that validate and clip, acquisition, zero-copy frame readout.

Public methods check their arguments, clip them to what the backend can do and return the value
actually applied, then call the backend's ``_do_*`` method; backends never see an invalid value.
``read_into`` writes a frame straight into the caller's buffer (a view into shared memory), so the
hot path copies each frame exactly once.

Threads: ``read_into`` may block in one thread while another calls ``stop``; every other method
is meant to be called from a single thread.

``FrameViews`` is the optional zero-copy extension: the caller lends the camera the memory frames
land in (every slot of a shared-memory ring), so a driver that receives into memory it is given
(Aravis) writes each frame exactly where it is consumed. ``views.frame_views`` gives the same
interface over ``read_into`` for every other camera.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

TRIGGER_MODES = ("internal", "external")

_log = logging.getLogger(__name__)


class CameraError(RuntimeError):
    """A camera operation was refused or failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """Identity and timing of one frame.

    ``frame_id`` is the camera's own counter from 0 at each start, so a frame lost on the way shows
    up as a jump; ``camera_ts`` is in seconds on the camera's clock, ``host_ts`` is ``time.time()``
    when the frame was read out.
    """

    frame_id: int
    camera_ts: float
    host_ts: float


@dataclass(frozen=True, slots=True)
class LostFrame:
    """A frame the camera began but could not deliver whole (lost packets, stream error).

    Its view holds no image; ``frame_id`` is the frame's place in the run's count, or -1 when the
    stream did not say.
    """

    frame_id: int
    reason: str


class Roi(NamedTuple):
    """A region of the sensor in unbinned sensor pixels."""

    x: int
    y: int
    width: int
    height: int


class Camera(ABC):
    """A scientific camera producing uint16 frames; one instance per physical device."""

    #: Settings a backend accepts while acquiring (subset of exposure, binning, roi, trigger_mode).
    LIVE_SETTINGS: ClassVar[frozenset[str]] = frozenset()
    SUPPORTED_BINNING: tuple[int, ...] = (1, 2, 4)  # a backend may set its own per camera
    #: ROI offsets and sizes are multiples of this many binned pixels (sensor readout granularity).
    ROI_STEP: int = 1

    def __init__(self) -> None:
        self._is_open = False
        self._running = threading.Event()
        self._exposure_ms = 0.0
        self._binning = 1
        self._requested_roi: Roi | None = None
        self._roi = Roi(0, 0, 0, 0)
        self._trigger_mode = "internal"

    # -- what the backend provides ---------------------------------------------------------------

    @property
    @abstractmethod
    def sensor_shape(self) -> tuple[int, int]:
        """(height, width) of the full sensor in pixels."""

    @property
    @abstractmethod
    def exposure_range_ms(self) -> tuple[float, float]:
        """Shortest and longest exposure the camera accepts."""

    @abstractmethod
    def _do_open(self) -> None: ...

    @abstractmethod
    def _do_close(self) -> None: ...

    @abstractmethod
    def _do_set_exposure_ms(self, exposure_ms: float) -> float:
        """Apply an in-range exposure; return the value the device really uses."""

    @abstractmethod
    def _do_set_binning(self, binning: int) -> None: ...

    @abstractmethod
    def _do_set_roi(self, roi: Roi) -> None: ...

    @abstractmethod
    def _do_set_trigger_mode(self, mode: str) -> None: ...

    @abstractmethod
    def _do_start(self) -> None: ...

    @abstractmethod
    def _do_stop(self) -> None:
        """Stop acquiring; must also make a ``_do_read_into`` blocked in another thread return."""

    @abstractmethod
    def _do_read_into(self, buffer: np.ndarray, timeout_s: float) -> FrameInfo | None:
        """Fill the validated ``buffer`` with the next frame, or return None after ``timeout_s``."""

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How messages name this camera (a backend adds its model and serial)."""
        return type(self).__name__

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def is_running(self) -> bool:
        return self._running.is_set()

    def open(self) -> None:
        """Connect to the device; opening an open camera does nothing."""
        if self._is_open:
            return
        self._do_open()
        self._is_open = True
        if self._requested_roi is None:
            height, width = self.sensor_shape
            self._requested_roi = Roi(0, 0, width, height)
            self._roi = self._fit_roi(self._requested_roi, self._binning)
        _log.info("%s opened, sensor %dx%d", type(self).__name__, *self.sensor_shape[::-1])

    def close(self) -> None:
        """Stop if running and release the device; closing a closed camera does nothing."""
        if not self._is_open:
            return
        try:
            self.stop()
        finally:
            self._do_close()
            self._is_open = False
            _log.info("%s closed", type(self).__name__)

    def __enter__(self) -> Camera:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start acquiring; frame ids count from 0 again."""
        self._require_open("start")
        if self.is_running:
            raise CameraError("camera is already running; stop it before starting again")
        self._do_start()
        self._running.set()

    def stop(self) -> None:
        """Stop acquiring; stopping a stopped camera does nothing."""
        if not self.is_running:
            return
        self._running.clear()
        self._do_stop()

    # -- settings ---------------------------------------------------------------------------------

    @property
    def exposure_ms(self) -> float:
        return self._exposure_ms

    @property
    def binning(self) -> int:
        return self._binning

    @property
    def roi(self) -> Roi:
        """The applied region in unbinned sensor pixels."""
        return self._roi

    @property
    def trigger_mode(self) -> str:
        return self._trigger_mode

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of a frame after ROI and binning."""
        return (self._roi.height // self._binning, self._roi.width // self._binning)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def set_exposure_ms(self, exposure_ms: float) -> float:
        """Set the exposure, clipped to ``exposure_range_ms``; returns the applied value."""
        self._check_settable("exposure")
        if isinstance(exposure_ms, bool) or not isinstance(exposure_ms, numbers.Real):
            raise CameraError(f"exposure must be a number of milliseconds (got {exposure_ms!r})")
        value = float(exposure_ms)
        if not math.isfinite(value):
            raise CameraError(f"exposure must be finite (got {value})")
        low, high = self.exposure_range_ms
        clipped = min(max(value, low), high)
        self._exposure_ms = float(self._do_set_exposure_ms(clipped))
        return self._exposure_ms

    def set_binning(self, binning: int) -> int:
        """Set square binning (one of ``SUPPORTED_BINNING``); the ROI is refitted to it."""
        self._check_settable("binning")
        allowed = self.SUPPORTED_BINNING
        if not _is_int(binning) or int(binning) not in allowed:
            raise CameraError(
                f"binning must be one of {', '.join(map(str, allowed))} (got {binning!r})"
            )
        binning = int(binning)
        assert self._requested_roi is not None
        roi = self._fit_roi(self._requested_roi, binning)
        self._do_set_binning(binning)
        self._binning = binning
        self._do_set_roi(roi)
        self._roi = roi
        return binning

    def set_roi(self, x: int, y: int, width: int, height: int) -> Roi:
        """Set the sensor region, clipped to the sensor and snapped to binning; returns it."""
        self._check_settable("roi")
        values = (x, y, width, height)
        if not all(_is_int(v) for v in values):
            raise CameraError(f"ROI x, y, width, height must be integers (got {values!r})")
        if int(width) < 1 or int(height) < 1:
            raise CameraError(f"ROI width and height must be positive (got {width}x{height})")
        requested = Roi(*(int(v) for v in values))
        roi = self._fit_roi(requested, self._binning)
        self._do_set_roi(roi)
        self._requested_roi = requested
        self._roi = roi
        return roi

    def set_trigger_mode(self, mode: str) -> str:
        """``internal``: the camera free-runs; ``external``: one frame per trigger pulse."""
        self._check_settable("trigger_mode")
        if mode not in TRIGGER_MODES:
            raise CameraError(
                f"trigger mode must be one of {', '.join(TRIGGER_MODES)} (got {mode!r})"
            )
        self._do_set_trigger_mode(mode)
        self._trigger_mode = mode
        return mode

    # -- acquisition ------------------------------------------------------------------------------

    def read_into(self, buffer: np.ndarray, timeout_s: float) -> FrameInfo | None:
        """Write the next frame into ``buffer``; None when no frame came within ``timeout_s``.

        Stopped cameras deliver nothing: the call waits up to ``timeout_s`` and returns None.
        """
        self._require_open("read a frame")
        if not isinstance(buffer, np.ndarray):
            raise CameraError(f"frame buffer must be a numpy array (got {type(buffer).__name__})")
        if buffer.dtype != self.dtype or buffer.shape != self.frame_shape:
            raise CameraError(
                f"frame buffer is {buffer.dtype} {buffer.shape}, the camera delivers "
                f"{self.dtype} {self.frame_shape}"
            )
        if not buffer.flags.writeable:
            raise CameraError("frame buffer is read-only")
        timeout_s = float(timeout_s)
        if not timeout_s >= 0.0:
            raise CameraError(f"timeout must be >= 0 seconds (got {timeout_s})")
        if not self.is_running:
            self._running.wait(timeout_s)
            return None
        return self._do_read_into(buffer, timeout_s)

    # -- helpers ----------------------------------------------------------------------------------

    def _require_open(self, action: str) -> None:
        if not self._is_open:
            raise CameraError(f"cannot {action}: the camera is not open")

    def _check_settable(self, setting: str) -> None:
        self._require_open(f"set {setting}")
        if self.is_running and setting not in self.LIVE_SETTINGS:
            raise CameraError(
                f"{setting} cannot change while {type(self).__name__} is acquiring; stop it first"
            )

    def _fit_roi(self, roi: Roi, binning: int) -> Roi:
        """Clip to the sensor and snap offsets and sizes down to whole readout steps."""
        sensor_h, sensor_w = self.sensor_shape
        step = self.ROI_STEP * binning
        if step > sensor_w or step > sensor_h:
            raise CameraError(
                f"binning {binning} leaves no pixel of a {sensor_w}x{sensor_h} sensor"
            )

        def fit(offset: int, size: int, limit: int) -> tuple[int, int]:
            offset = min(max(offset, 0), limit - step) // step * step
            size = min(max(size, step), limit - offset) // step * step
            return offset, size

        x, width = fit(roi.x, roi.width, sensor_w)
        y, height = fit(roi.y, roi.height, sensor_h)
        return Roi(x, y, width, height)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class FrameViews(ABC):
    """Frames received straight into views the caller owns, handed back in the order queued.

    ``queue_view(view, token)`` lends the camera one frame's memory (C-contiguous, writable,
    ``dtype`` and ``frame_shape``, e.g. a ring slot's data; lend the first ones before ``start``,
    a camera may choose how it receives then); ``next_filled`` returns the token of
    the oldest queued view once its frame is complete (FrameInfo) or lost (LostFrame: the view
    holds no image). A returned view is the caller's again. Queued views survive ``stop`` and
    ``start`` (filled after the next start, still in order). The camera may keep per-view driver
    state; ``release_views`` (while stopped) drops it and every queued view, after which the
    caller may free the memory.
    """

    @abstractmethod
    def queue_view(self, view: np.ndarray, token: Hashable) -> None: ...

    @abstractmethod
    def next_filled(self, timeout_s: float) -> tuple[Hashable, FrameInfo | LostFrame] | None:
        """The oldest queued view's token and what it holds; None after ``timeout_s``."""

    @abstractmethod
    def release_views(self) -> None: ...

    @property
    @abstractmethod
    def queued(self) -> int:
        """How many views the camera holds (queued and not yet returned)."""

    @property
    @abstractmethod
    def frames_lost(self) -> int:
        """Frames lost since the camera was opened: LostFrames returned, frames that skipped the
        camera's count (lost in transit), and frames that came while no view was queued."""

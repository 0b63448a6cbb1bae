"""GenICam cameras (GigE Vision, USB3 Vision) through Aravis, with frames received in place.

Settings map to the standard feature names (SFNC): ExposureTime, BinningHorizontal/Vertical,
Width/Height/OffsetX/OffsetY in binned pixels, PixelFormat (Mono8/Mono12/Mono16), TriggerMode,
TriggerSource, TriggerActivation, AcquisitionFrameRate. Exposure, binning and ROI are written when
they change, and everything (pixel format and trigger included) again at every start, so the
device matches the protocol's view of it. In internal trigger mode the frame rate is
1000 / (exposure + readout_ms).

Frames land where they are consumed: with FrameViews the buffers Aravis fills are the caller's
views (ring slots); ``read_into`` receives into the camera's own pool and copies once. Mono8
frames are widened to 16-bit counts in place.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Hashable
from typing import Any

import numpy as np

from lightsheet.hardware.camera.aravis import (
    OpenedDevice,
    error_text,
    load_aravis,
    open_device,
    release_device,
)
from lightsheet.hardware.camera.genicam_stream import (
    FramePool,
    StreamRun,
    buffer_over,
    widen_in_place,
)
from lightsheet.hardware.camera.protocol import (
    Camera,
    CameraError,
    FrameInfo,
    FrameViews,
    LostFrame,
    Roi,
)
from lightsheet.hardware.camera.views import ViewQueue

_log = logging.getLogger(__name__)

BYTES_PER_PIXEL = {"Mono8": 1, "Mono12": 2, "Mono16": 2}
TRIGGER_EDGES = {"rising": "RisingEdge", "falling": "FallingEdge"}


class GenicamCamera(Camera, FrameViews):
    """One GenICam camera; ``device`` is an IPv4 address, ``Fake_1``, a USB3 Vision id or serial."""

    LIVE_SETTINGS = frozenset({"exposure"})

    def __init__(
        self,
        device: str = "",
        *,
        pixel_format: str = "Mono16",
        trigger_source: str = "Line0",
        trigger_edge: str = "rising",
        packet_size: int = 0,
        readout_ms: float = 0.0,
        buffer_frames: int = 16,
    ) -> None:
        super().__init__()
        if pixel_format not in BYTES_PER_PIXEL:
            raise CameraError(f"genicam: pixel format must be one of {', '.join(BYTES_PER_PIXEL)}")
        if trigger_edge not in TRIGGER_EDGES:
            raise CameraError(f"genicam: trigger edge must be one of {', '.join(TRIGGER_EDGES)}")
        if int(buffer_frames) < 2 or not math.isfinite(readout_ms) or readout_ms < 0:
            raise CameraError("genicam: buffer_frames must be >= 2 and readout_ms >= 0")
        self._aravis = load_aravis()
        self._device = str(device)
        self._pixel_format = pixel_format
        self._trigger_source = trigger_source
        self._trigger_edge = trigger_edge
        self._packet_size = int(packet_size)
        self._readout_ms = float(readout_ms)
        self._opened: OpenedDevice | None = None
        self._sensor: tuple[int, int] | None = None
        self._exposure_bounds = (0.0, 0.0)
        self._halt = threading.Event()
        self._halt.set()
        self._read_lock = threading.Lock()
        self._control_lost = threading.Event()
        self._run: StreamRun | None = None
        self._pool = FramePool(self._aravis, int(buffer_frames))  # read_into's own buffers
        self._pool_in_use = False  # this start receives into the pool (no view was lent)
        self._views = ViewQueue()
        self._view_buffers: dict[int, tuple[np.ndarray, Any]] = {}  # address: (view, buffer)
        self._done: dict[int, Any] = {}  # address: a buffer Aravis finished ahead of an older one
        self._lost_before = 0  # frames lost in earlier starts since the camera was opened

    # -- identity ----------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """Vendor, model, serial (and address) of the open camera."""
        return self._opened.label if self._opened else f"genicam {self._device or '(any)'}"

    @property
    def sensor_shape(self) -> tuple[int, int]:
        if self._sensor is None:
            raise CameraError("genicam: open the camera first: its sensor size comes from it")
        return self._sensor

    @property
    def exposure_range_ms(self) -> tuple[float, float]:
        return self._exposure_bounds

    # -- open and close ----------------------------------------------------------------------------

    def _do_open(self) -> None:
        opened = open_device(self._device)
        self._opened = opened
        try:
            self._guarded("read its limits", self._inspect, opened.camera)
        except BaseException:
            self._release()
            raise
        if isinstance(opened.device, self._aravis.GvDevice):
            opened.device.connect("control-lost", lambda *_: self._control_lost.set())
        self._control_lost.clear()
        self._lost_before = 0

    def _inspect(self, cam: Any) -> None:
        """Learn the sensor and limits, and switch off what would change frames behind our back."""
        width, height = cam.get_sensor_size()
        self._sensor = (int(height), int(width))
        low, high = cam.get_exposure_time_bounds()
        self._exposure_bounds = (low / 1000.0, high / 1000.0)
        formats = list(cam.dup_available_pixel_formats_as_strings() or [])
        if self._pixel_format not in formats:
            raise CameraError(
                f"genicam: {self.label} offers no {self._pixel_format} "
                f"(it offers {', '.join(formats)}); change camera.genicam.pixel_format"
            )
        if cam.is_binning_available():
            top = min(cam.get_x_binning_bounds()[1], cam.get_y_binning_bounds()[1])
            self.SUPPORTED_BINNING = tuple(b for b in (1, 2, 4) if b <= top)
        else:
            self.SUPPORTED_BINNING = (1,)
        steps = (cam.get_width_increment(), cam.get_height_increment())
        offsets = (cam.get_x_offset_increment(), cam.get_y_offset_increment())
        smallest = (cam.get_width_bounds()[0], cam.get_height_bounds()[0])
        # Every multiple of the step must be a valid size, so the smallest size is a step too.
        self.ROI_STEP = math.lcm(*(max(int(s), 1) for s in steps + offsets + smallest))
        if cam.is_exposure_auto_available():
            cam.set_exposure_time_auto(self._aravis.Auto.OFF)
        if cam.are_chunks_available():
            cam.set_chunk_mode(False)
        if cam.is_gv_device():
            self._set_packet_size(cam)
        self._exposure_ms = cam.get_exposure_time() / 1000.0

    def _set_packet_size(self, cam: Any) -> None:
        try:
            if self._packet_size:
                cam.gv_set_packet_size(self._packet_size)
            else:
                cam.gv_auto_packet_size()
        except Exception as exc:
            _log.warning("genicam: packet size left as it was: %s", error_text(exc))

    def _do_close(self) -> None:
        self._view_buffers = {}
        self._views.entries.clear()
        self._pool.clear()
        self._release()

    def _release(self) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:  # a lost camera would only time out
            release_device(opened, reachable=not self._control_lost.is_set())

    # -- settings ----------------------------------------------------------------------------------

    def _do_set_exposure_ms(self, exposure_ms: float) -> float:
        cam = self._camera()
        self._guarded("set the exposure", cam.set_exposure_time, exposure_ms * 1000.0)
        if self.is_running and self.trigger_mode == "internal":
            self._guarded("set the frame rate", cam.set_frame_rate, self._frame_rate(exposure_ms))
        return cam.get_exposure_time() / 1000.0

    def _do_set_binning(self, binning: int) -> None:
        if binning > 1 or self._camera().is_binning_available():
            self._guarded("set the binning", self._camera().set_binning, binning, binning)

    def _do_set_roi(self, roi: Roi) -> None:
        self._write_region(roi, self.binning)

    def _do_set_trigger_mode(self, mode: str) -> None:
        if mode == "external":
            self._check_trigger_features()

    def _write_region(self, roi: Roi, binning: int) -> None:
        region = (roi.x // binning, roi.y // binning, roi.width // binning, roi.height // binning)
        self._guarded("set the region of interest", self._camera().set_region, *region)

    def _check_trigger_features(self) -> None:
        cam = self._camera()
        sources = list(cam.dup_available_trigger_sources() or [])
        if self._trigger_source not in sources:
            raise CameraError(
                f"genicam: {self.label} has no trigger source {self._trigger_source} "
                f"(it has {', '.join(sources) or 'none'}); change camera.genicam.trigger_source"
            )
        edges = self._trigger_edges()
        wanted = TRIGGER_EDGES[self._trigger_edge]
        if edges is not None and wanted not in edges:
            raise CameraError(
                f"genicam: {self.label} cannot trigger on the {self._trigger_edge} edge "
                f"(it offers {', '.join(edges)}); change camera.trigger_edge"
            )

    def _trigger_edges(self) -> list[str] | None:
        feature = self._camera().get_device().get_feature("TriggerActivation")
        return None if feature is None else list(feature.dup_available_string_values() or [])

    def _apply_trigger(self, cam: Any) -> None:
        if self.trigger_mode == "internal":
            cam.set_frame_rate(self._frame_rate(self.exposure_ms))  # also switches triggers off
            return
        cam.set_frame_rate(0.0)  # no rate limit between external triggers
        if cam.is_feature_available("TriggerSelector"):
            cam.set_string("TriggerSelector", "FrameStart")
        cam.set_string("TriggerMode", "On")
        cam.set_string("TriggerSource", self._trigger_source)
        if self._trigger_edges() is not None:
            cam.set_string("TriggerActivation", TRIGGER_EDGES[self._trigger_edge])

    def _frame_rate(self, exposure_ms: float) -> float:
        return 1000.0 / max(exposure_ms + self._readout_ms, 1e-3)

    def send_software_trigger(self) -> None:
        """Fire one frame when ``trigger_source`` is Software and the mode is external."""
        self._guarded("fire a software trigger", self._camera().software_trigger)

    # -- acquisition -------------------------------------------------------------------------------

    def _do_start(self) -> None:
        cam = self._camera()
        self._guarded("configure the camera", self._configure, cam)
        payload = int(cam.get_payload())
        height, width = self.frame_shape
        needed = height * width * BYTES_PER_PIXEL[self._pixel_format]
        if payload > height * width * 2:
            raise CameraError(f"genicam: frames of {payload} bytes do not fit {height}x{width}")
        frame_bytes = max(payload, needed)
        run = StreamRun(self._aravis, cam, self._control_lost, frame_bytes)
        self._pool_in_use = not self._view_buffers
        lent = [self._view_buffers[address][1] for _, address, _ in self._views.entries]
        run.begin(self._pool.buffers(frame_bytes) if self._pool_in_use else lent)
        self._done.clear()
        self._halt.clear()
        self._run = run
        try:
            cam.start_acquisition()
        except Exception as exc:
            self._do_stop()
            raise CameraError(f"genicam: {self.label} did not start: {error_text(exc)}") from None

    def _configure(self, cam: Any) -> None:
        cam.set_acquisition_mode(self._aravis.AcquisitionMode.CONTINUOUS)
        cam.set_pixel_format_from_string(self._pixel_format)
        self._do_set_binning(self.binning)
        self._write_region(self.roi, self.binning)
        self._apply_trigger(cam)

    def _do_stop(self) -> None:
        self._halt.set()
        with self._read_lock:  # a read blocked in another thread leaves within POP_SLICE_S
            run, self._run = self._run, None
            if self._opened is not None and not self._control_lost.is_set():
                try:
                    self._opened.camera.stop_acquisition()
                except Exception as exc:
                    _log.warning("genicam: stopping %s: %s", self.label, error_text(exc))
            if run is not None:
                self._lost_before += run.counter.skipped + run.failed + run.underruns
                run.close(reachable=not self._control_lost.is_set())
            self._done.clear()

    def _do_read_into(self, buffer: np.ndarray, timeout_s: float) -> FrameInfo | None:
        if self._view_buffers:
            raise CameraError("genicam: views are lent: read frames with next_filled")
        deadline = time.monotonic() + timeout_s
        with self._read_lock:
            while self._run is not None:
                popped = self._run.pop(max(deadline - time.monotonic(), 0.0), self._halt)
                if popped is None:
                    return None
                result = self._run.describe(popped, self.frame_shape)
                if isinstance(result, FrameInfo):
                    self._pool.copy_out(popped, buffer, self._pixel_format == "Mono8")
                self._run.push(popped)
                if isinstance(result, FrameInfo):
                    return result
                _log.warning("genicam: frame %d lost: %s", result.frame_id, result.reason)
        return None

    # -- FrameViews --------------------------------------------------------------------------------

    def queue_view(self, view: np.ndarray, token: Hashable) -> None:
        self._require_open("queue a view")
        address = self._views.add(self, view, token)
        known = self._view_buffers.get(address)
        if known is None or known[0].nbytes != view.nbytes:
            known = (view, buffer_over(self._aravis, view))
            self._view_buffers[address] = known
        run = self._run
        if run is not None:
            if self._pool_in_use:
                self._views.entries.pop()
                raise CameraError(
                    "genicam: queue views before start: this acquisition receives into the "
                    "camera's own buffers for read_into"
                )
            run.push(known[1])

    def next_filled(self, timeout_s: float) -> tuple[Hashable, FrameInfo | LostFrame] | None:
        self._require_open("read a frame")
        timeout_s = float(timeout_s)
        if not timeout_s >= 0.0:
            raise CameraError(f"timeout must be >= 0 seconds (got {timeout_s})")
        if not self.is_running:
            self._running.wait(timeout_s)
            return None
        deadline = time.monotonic() + timeout_s
        with self._read_lock:
            entries = self._views.entries
            if self._run is None or not entries:
                self._halt.wait(timeout_s)  # frames arriving now find no buffer: underruns
                return None
            by_id = {id(buffer): address for address, (_, buffer) in self._view_buffers.items()}
            while entries[0][1] not in self._done:
                popped = self._run.pop(max(deadline - time.monotonic(), 0.0), self._halt)
                if popped is None:
                    return None
                self._done[by_id[id(popped)]] = popped
            token, address, view = entries.popleft()
            result = self._run.describe(self._done.pop(address), self.frame_shape)
        if isinstance(result, FrameInfo) and self._pixel_format == "Mono8":
            widen_in_place(view)
        return token, result

    def release_views(self) -> None:
        if self.is_running:
            raise CameraError("views can only be released while the camera is stopped")
        self._views.entries.clear()
        self._view_buffers = {}

    @property
    def queued(self) -> int:
        return len(self._views)

    @property
    def frames_lost(self) -> int:
        run = self._run
        current = 0 if run is None else run.counter.skipped + run.failed + run.underruns
        return self._lost_before + current

    # -- helpers -----------------------------------------------------------------------------------

    def _camera(self) -> Any:
        if self._opened is None:
            raise CameraError("genicam: the camera is not open")
        return self._opened.camera

    def _guarded(self, action: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except CameraError:
            raise
        except Exception as exc:  # GLib.Error from the device
            raise CameraError(
                f"genicam: cannot {action} on {self.label}: {error_text(exc)}"
            ) from None


def from_config(cfg: Any, buffer_frames: int = 16) -> GenicamCamera:
    """The camera a ``camera`` config section with ``backend: genicam`` describes (not opened)."""
    genicam = getattr(cfg, "genicam", None)
    return GenicamCamera(
        str(getattr(cfg, "device", "") or ""),
        pixel_format=getattr(genicam, "pixel_format", "Mono16"),
        trigger_source=getattr(genicam, "trigger_source", "Line0"),
        trigger_edge=str(getattr(cfg, "trigger_edge", "rising")),
        packet_size=int(getattr(genicam, "packet_size", 0)),
        readout_ms=float(getattr(cfg, "readout_ms", 0.0)),
        buffer_frames=buffer_frames,
    )

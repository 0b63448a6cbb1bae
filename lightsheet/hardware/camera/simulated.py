"""A simulated sCMOS camera that images a 3D phantom at the plane the light sheet is in.

Each frame costs one pass over its pixels: a plane rendered once plus a window of pre-drawn
read noise, written straight into the caller's buffer (``simulated_planes.py``).

Coupling to the scanner (external trigger mode) goes through two seams, both optional:

- ``trigger_source.wait_trigger(timeout_s) -> float | None`` blocks until the next trigger pulse
  and returns its time in ``time.monotonic()`` seconds (None on timeout); one trigger, one frame.
- An optional ``trigger_source.reset()`` is called at each start, so that edges from before
  it are forgotten (edges older than the start are ignored either way, as a real camera does).
- ``z_source(exposure_start) -> float`` returns the sheet's z (µm) averaged over the exposure that
  starts at that ``time.monotonic()`` time; it is called once per trigger, right after
  ``wait_trigger`` returned it. Without it frame k shows plane k % n_planes.

``exposure_delay_ms`` makes the camera expose that long after each trigger (or start its
free-running schedule that late): a camera out of sync on purpose, which images the z the sheet
has by then and stamps the late start in ``camera_ts``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from lightsheet.hardware.camera.phantom import Phantom
from lightsheet.hardware.camera.protocol import Camera, CameraError, FrameInfo, Roi
from lightsheet.hardware.camera.simulated_planes import (
    STAMP_WORDS,
    NoisePool,
    Optics,
    PlaneRenderer,
    decode_frame_id,
    phantom_box,
    snap_z,
    stamp_frame_id,
)

__all__ = ["SimulatedCamera", "TriggerSource", "ZSource", "decode_frame_id"]

_log = logging.getLogger(__name__)


class TriggerSource(Protocol):
    """Whatever fires the camera in external trigger mode (the simulated DAQ board)."""

    def wait_trigger(self, timeout_s: float) -> float | None:
        """The next trigger's ``time.monotonic()`` time, or None if none came in ``timeout_s``."""


ZSource = Callable[[float], float]


@dataclass
class _PendingFrame:
    """An external-mode frame whose trigger came but whose readout is not finished yet."""

    frame_id: int
    exposure_start: float  # monotonic seconds
    ready: float  # monotonic seconds
    z_um: float
    lit: bool = True  # False: the laser was blanked, only the camera's offset and noise


class SimulatedCamera(Camera):
    """A real implementation of the camera protocol that renders a seeded phantom.

    Exposure may change while acquiring (``LIVE_SETTINGS``); the planes are then re-rendered for
    the new exposure on first use, so the first volume after the change is read out late and the
    frame pacing catches up, keeping frame ids consecutive. Units: ``brightness`` is photons per
    millisecond of exposure in the (unbinned) pixel under the brightest bead when it is in focus;
    ``photons_per_count`` converts photons to counts; ``dark_offset`` and ``read_noise`` (rms)
    are in counts. Binning sums the photons of the binned pixels. A frame's ``camera_ts`` is the
    start of its exposure; frame k of a free-running start is exposed from k frame periods
    (exposure + readout) after the start.
    """

    LIVE_SETTINGS: ClassVar[frozenset[str]] = frozenset({"exposure"})
    EXPOSURE_RANGE_MS: ClassVar[tuple[float, float]] = (0.01, 10_000.0)

    def __init__(
        self,
        z_positions_um: Sequence[float] = (0.0,),
        *,
        sensor_width: int = 1024,
        sensor_height: int = 1024,
        pixel_size_um: float = 0.65,
        readout_ms: float = 0.0,
        exposure_ms: float = 10.0,
        seed: int = 0,
        dark_offset: float = 100.0,
        read_noise: float = 2.0,
        photons_per_count: float = 1.0,
        brightness: float = 1000.0,
        n_beads: int = 400,
        sheet_fwhm_um: float = 3.0,
        stamp_frame_id: bool = False,
        drop_frame_ids: Iterable[int] = (),
        exposure_delay_ms: float = 0.0,
        z_source: ZSource | None = None,
        trigger_source: TriggerSource | None = None,
        plane_cache_mb: float = 1024.0,
    ) -> None:
        super().__init__()
        z_positions = _checked_options(
            z_positions_um, sensor_width, sensor_height, pixel_size_um, readout_ms, dark_offset,
            read_noise, photons_per_count, brightness, sheet_fwhm_um, plane_cache_mb,
            exposure_delay_ms, drop_frame_ids,
        )  # fmt: skip
        drops = frozenset(int(i) for i in drop_frame_ids)
        self._z_positions = z_positions
        self._sorted_planes = np.unique(np.asarray(z_positions))
        self._sensor_shape = (int(sensor_height), int(sensor_width))
        self._pixel_size_um = float(pixel_size_um)
        self._readout_ms = float(readout_ms)
        self._dark_offset = float(dark_offset)
        self._read_noise = float(read_noise)
        self._photons_per_count = float(photons_per_count)
        self._brightness = float(brightness)
        self._sheet_fwhm_um = float(sheet_fwhm_um)
        self._stamp = bool(stamp_frame_id)
        self._drop_ids = drops
        self._delay_s = float(exposure_delay_ms) / 1000.0
        self._z_source = z_source
        self._trigger_source = trigger_source
        self._exposure_ms = min(
            max(float(exposure_ms), self.EXPOSURE_RANGE_MS[0]), self.EXPOSURE_RANGE_MS[1]
        )
        self._renderer = self._build_renderer(int(seed), int(n_beads), plane_cache_mb)
        self.phantom = self._renderer.phantom
        self._noise = NoisePool(self._read_noise, np.random.default_rng([int(seed), 2]))
        self._halt = threading.Event()
        self._halt.set()
        self._epoch = time.monotonic()
        self._next_id = 0
        self._next_start = 0.0
        self._started_at = 0.0
        self._pending: _PendingFrame | None = None

    def _build_renderer(self, seed: int, n_beads: int, cache_mb: float) -> PlaneRenderer:
        extent, origin = phantom_box(
            self._z_positions, self._sensor_shape, self._pixel_size_um, self._sheet_fwhm_um
        )
        phantom = Phantom(extent, seed, origin_um=origin, n_beads=n_beads)
        # Photons per ms per unit of phantom emission, so that ``brightness`` is what it says.
        photon_rate = self._brightness / phantom.bead_peak(self._pixel_size_um, self._sheet_fwhm_um)
        return PlaneRenderer(
            phantom, photon_rate, self._photons_per_count, self._dark_offset,
            self._sheet_fwhm_um, np.random.default_rng([seed, 1]), int(cache_mb * 2**20),
        )  # fmt: skip

    # -- what the protocol asks of a backend ------------------------------------------------------

    @property
    def sensor_shape(self) -> tuple[int, int]:
        return self._sensor_shape

    @property
    def exposure_range_ms(self) -> tuple[float, float]:
        return self.EXPOSURE_RANGE_MS

    def _do_open(self) -> None:
        self._epoch = time.monotonic()

    def _do_close(self) -> None:
        self._renderer.forget()
        self._noise.release()

    def _do_set_exposure_ms(self, exposure_ms: float) -> float:
        if exposure_ms != self._exposure_ms:
            self._renderer.forget()  # photons scale with exposure
        return exposure_ms

    def _do_set_binning(self, binning: int) -> None:
        if binning != self.binning:
            self._renderer.forget()

    def _do_set_roi(self, roi: Roi) -> None:
        if roi != self.roi:
            self._renderer.forget()

    def _do_set_trigger_mode(self, mode: str) -> None:
        if mode == "external" and self._trigger_source is None:
            _log.warning("external trigger mode without a trigger source: start() will refuse")

    def _do_start(self) -> None:
        if self.trigger_mode == "external" and self._trigger_source is None:
            raise CameraError(
                "external trigger mode needs a trigger source (the simulated DAQ board); "
                "use trigger_mode internal or run the scanner"
            )
        height, width = self.frame_shape
        if self._stamp and height * width < STAMP_WORDS:
            raise CameraError(f"stamp_frame_id needs frames of at least {STAMP_WORDS} pixels")
        self._noise.prepare(height * width)
        self._renderer.render_volume(self._z_positions, self._optics(), self._noise.margin)
        self._next_id = 0
        self._started_at = time.monotonic()
        self._next_start = self._started_at + self._delay_s
        self._pending = None
        reset = getattr(self._trigger_source, "reset", None)
        if self.trigger_mode == "external" and callable(reset):
            reset()
        self._halt.clear()

    def _do_stop(self) -> None:
        self._halt.set()
        self._pending = None

    def _do_read_into(self, buffer: np.ndarray, timeout_s: float) -> FrameInfo | None:
        deadline = time.monotonic() + timeout_s
        # A frame whose readout the last call did not wait for is still the next one.
        frame = self._pending
        if frame is None:
            if self.trigger_mode == "internal":
                frame = self._next_internal_frame()
            else:
                frame = self._next_triggered_frame(deadline)
            self._pending = frame
        if frame is None or not self._wait_until(frame.ready, deadline):
            return None
        self._pending = None
        optics, margin = self._optics(), self._noise.margin
        if frame.lit:
            plane = self._renderer.plane(frame.z_um, optics, margin)
        else:
            plane = self._renderer.unlit(optics, margin)
        self._noise.add_to(plane, buffer)
        if self._stamp:
            stamp_frame_id(buffer, frame.frame_id)
        return FrameInfo(frame.frame_id, frame.exposure_start - self._epoch, time.time())

    # -- simulation-specific public API -----------------------------------------------------------

    @property
    def z_positions_um(self) -> tuple[float, ...]:
        """The volume's planes; in internal trigger mode frame k shows plane k % len(...)."""
        return self._z_positions

    def expected_image(self, z_um: float) -> np.ndarray:
        """Noiseless counts (float32, before clipping) at ``z_um`` with the current settings."""
        return self._renderer.expected_counts(float(z_um), self._optics())

    def sample_image(
        self,
        z_um: float,
        shape: tuple[int, int],
        pixel_um: float,
        origin_um: tuple[float, float],
    ) -> np.ndarray:
        """The sample's emission through this camera's sheet at ``z_um`` on any pixel grid
        (float32, arbitrary units): the reference a saved run's planes are matched against to
        find the z they were really imaged at. ``origin_um`` is the grid's top-left (y, x) on
        the sensor's sample coordinates."""
        return self._renderer.emission(z_um, shape, pixel_um, origin_um)

    # -- frames -----------------------------------------------------------------------------------

    def _frame_period_s(self) -> float:
        return (self._exposure_ms + self._readout_ms) / 1000.0

    def _next_internal_frame(self) -> _PendingFrame:
        """The next frame of the free-running schedule; lost frames still use up their slot."""
        while self._next_id in self._drop_ids:
            _log.debug("frame %d lost (drop_frame_ids)", self._next_id)
            self._advance_schedule()
        frame = _PendingFrame(
            frame_id=self._next_id,
            exposure_start=self._next_start,
            ready=self._next_start + self._frame_period_s(),
            z_um=self._z_positions[self._next_id % len(self._z_positions)],
            lit=self._laser_on(self._next_start),
        )
        self._advance_schedule()
        return frame

    def _advance_schedule(self) -> None:
        self._next_id += 1
        self._next_start += self._frame_period_s()

    def _next_triggered_frame(self, deadline: float) -> _PendingFrame | None:
        assert self._trigger_source is not None
        while not self._halt.is_set():
            trigger_time = self._trigger_source.wait_trigger(max(deadline - time.monotonic(), 0.0))
            if trigger_time is None:
                return None
            if trigger_time < self._started_at:
                continue  # fired before acquisition started: a real camera ignores it too
            frame_id = self._next_id
            self._next_id += 1
            z_um = self._z_positions[frame_id % len(self._z_positions)]
            exposure_start = float(trigger_time) + self._delay_s
            if self._z_source is not None:
                z_um = float(self._z_source(exposure_start))
                if not math.isfinite(z_um):
                    raise CameraError(f"z source returned {z_um} for frame {frame_id}")
            if frame_id in self._drop_ids:
                _log.debug("frame %d lost (drop_frame_ids)", frame_id)
                continue
            return _PendingFrame(
                frame_id=frame_id,
                exposure_start=exposure_start,
                ready=exposure_start + self._frame_period_s(),
                z_um=snap_z(z_um, self._sorted_planes),
                lit=self._laser_on(exposure_start),
            )
        return None

    def _laser_on(self, exposure_start: float) -> bool:
        """Asks the simulated board, when there is one, whether the laser lit this exposure."""
        laser_on = getattr(self._trigger_source, "laser_on", None)
        if laser_on is None:
            return True
        triggered = self.trigger_mode == "external"
        return bool(laser_on(exposure_start, self._exposure_ms / 1000.0, triggered))

    def _wait_until(self, ready: float, deadline: float) -> bool:
        """Wait for the frame's readout; False if stopped or the caller's deadline comes first."""
        if self._halt.is_set():
            return False
        now = time.monotonic()
        if ready <= now:
            return True
        if ready > deadline:
            self._halt.wait(max(deadline - now, 0.0))
            return False
        return not self._halt.wait(ready - now)

    def _optics(self) -> Optics:
        roi = self.roi
        return Optics(
            self.frame_shape,
            self._pixel_size_um * self.binning,
            (roi.y * self._pixel_size_um, roi.x * self._pixel_size_um),
            self._exposure_ms,
        )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CameraError(message)


def _checked_options(
    z_positions_um: Sequence[float], sensor_width: int, sensor_height: int,
    pixel_size_um: float, readout_ms: float, dark_offset: float, read_noise: float,
    photons_per_count: float, brightness: float, sheet_fwhm_um: float, plane_cache_mb: float,
    exposure_delay_ms: float, drop_frame_ids: Iterable[int],
) -> tuple[float, ...]:  # fmt: skip
    """The z positions as floats, once every option is known to be usable."""
    z_positions = tuple(float(z) for z in z_positions_um)
    if not z_positions or not all(math.isfinite(z) for z in z_positions):
        raise CameraError("the simulated camera needs at least one finite z position")
    _require(sensor_width >= 1 and sensor_height >= 1, "sensor size must be positive")
    _require(pixel_size_um > 0, f"pixel_size_um must be > 0 (got {pixel_size_um})")
    _require(readout_ms >= 0, f"readout_ms must be >= 0 (got {readout_ms})")
    _require(0 <= dark_offset <= 65535, f"dark_offset must be 0..65535 (got {dark_offset})")
    _require(0 <= read_noise <= 5000, f"read_noise must be 0..5000 counts (got {read_noise})")
    _require(photons_per_count > 0, f"photons_per_count must be > 0 ({photons_per_count})")
    _require(brightness >= 0, f"brightness must be >= 0 (got {brightness})")
    _require(sheet_fwhm_um > 0, f"sheet_fwhm_um must be > 0 (got {sheet_fwhm_um})")
    _require(plane_cache_mb >= 0, f"plane_cache_mb must be >= 0 (got {plane_cache_mb})")
    _require(
        math.isfinite(exposure_delay_ms) and exposure_delay_ms >= 0,
        f"exposure_delay_ms must be >= 0 (got {exposure_delay_ms})",
    )
    _require(all(int(i) >= 0 for i in drop_frame_ids), "drop_frame_ids must be >= 0")
    return z_positions

"""A simulated sCMOS camera that images a 3D phantom at the plane the light sheet is in.

Speed comes from doing the expensive work once per plane: the noiseless image and one shot-noise
realisation are rendered when acquisition starts (or on first use) and cached as uint16 counts.
Each frame then costs one add: the cached plane plus a window of a large read-noise pool taken at
an offset that moves every frame, so every frame differs. The add is done in modular uint16
arithmetic, which is exact wherever plane + noise stays inside 0..65535; the few pixels of each
plane that could leave that range are listed when the plane is rendered and recomputed with
clipping, so values saturate and never wrap.

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

_log = logging.getLogger(__name__)

Z_GRID_UM = 0.25  # z values off the volume's planes are rendered on this grid (sheet >> grid)
_READ_NOISE_SIGMAS = 6  # read noise is clipped to this many standard deviations
_MIN_LIT_PHOTONS = 1e-3  # below this expected count a pixel gets no shot noise draw (always 0)
_MAX_PHOTONS = 1e12  # keeps Poisson sampling finite however bright the settings
_STAMP_WORDS = 4


class TriggerSource(Protocol):
    """Whatever fires the camera in external trigger mode (the simulated DAQ board)."""

    def wait_trigger(self, timeout_s: float) -> float | None:
        """The next trigger's ``time.monotonic()`` time, or None if none came in ``timeout_s``."""


ZSource = Callable[[float], float]


@dataclass(frozen=True)
class _Plane:
    """One plane's frame before read noise, and the pixels near the ends of the uint16 range."""

    counts: np.ndarray  # uint16 (h, w), clipped to 0..65535
    edge_flat: np.ndarray  # flat indices of pixels that need a clipped add
    edge_index: tuple[np.ndarray, np.ndarray]  # the same pixels as (rows, cols)
    edge_counts: np.ndarray  # int32 counts of those pixels before clipping (the ADC clips last)

    @property
    def nbytes(self) -> int:
        return self.counts.nbytes + self.edge_flat.nbytes * 3 + self.edge_counts.nbytes


@dataclass
class _PendingFrame:
    """An external-mode frame whose trigger came but whose readout is not finished yet."""

    frame_id: int
    exposure_start: float  # monotonic seconds
    ready: float  # monotonic seconds
    z_um: float
    lit: bool = True  # False: the laser was blanked, only the camera's offset and noise


def decode_frame_id(frame: np.ndarray) -> int:
    """The frame id written by ``stamp_frame_id`` into the first four pixels (16 bits each)."""
    return sum(int(frame.flat[i]) << (16 * i) for i in range(_STAMP_WORDS))


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
        drops = frozenset(int(i) for i in drop_frame_ids)
        _require(all(i >= 0 for i in drops), "drop_frame_ids must be >= 0")

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
        self._cache_budget = int(plane_cache_mb * 2**20)
        self._exposure_ms = min(
            max(float(exposure_ms), self.EXPOSURE_RANGE_MS[0]), self.EXPOSURE_RANGE_MS[1]
        )
        extent, origin = _phantom_box(
            z_positions, self._sensor_shape, self._pixel_size_um, self._sheet_fwhm_um
        )
        self.phantom = Phantom(extent, int(seed), origin_um=origin, n_beads=int(n_beads))
        # Photons per ms per unit of phantom emission, so that ``brightness`` is what it says.
        self._photon_rate = self._brightness / self.phantom.bead_peak(
            self._pixel_size_um, self._sheet_fwhm_um
        )
        self._shot_rng = np.random.default_rng([int(seed), 1])
        self._noise_rng = np.random.default_rng([int(seed), 2])
        self._planes: dict[float, _Plane] = {}
        self._dark_plane: _Plane | None = None
        self._cache_bytes = 0
        self._noise_pool = np.zeros(0, dtype=np.int16)
        self._noise_span = 1
        self._noise_stride = 1
        self._noise_counter = 0
        self._halt = threading.Event()
        self._halt.set()
        self._epoch = time.monotonic()
        self._next_id = 0
        self._next_start = 0.0
        self._started_at = 0.0
        self._pending: _PendingFrame | None = None

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
        self._forget_planes()
        self._noise_pool = np.zeros(0, dtype=np.int16)

    def _do_set_exposure_ms(self, exposure_ms: float) -> float:
        if exposure_ms != self._exposure_ms:
            self._forget_planes()  # photons scale with exposure
        return exposure_ms

    def _do_set_binning(self, binning: int) -> None:
        if binning != self.binning:
            self._forget_planes()

    def _do_set_roi(self, roi: Roi) -> None:
        if roi != self.roi:
            self._forget_planes()

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
        if self._stamp and height * width < _STAMP_WORDS:
            raise CameraError(f"stamp_frame_id needs frames of at least {_STAMP_WORDS} pixels")
        self._prepare_noise_pool(height * width)
        self._render_volume()
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
        plane = self._plane(frame.z_um) if frame.lit else self._unlit_plane()
        self._fill(buffer, plane, frame.frame_id)
        return FrameInfo(frame.frame_id, frame.exposure_start - self._epoch, time.time())

    # -- simulation-specific public API -----------------------------------------------------------

    @property
    def z_positions_um(self) -> tuple[float, ...]:
        """The volume's planes; in internal trigger mode frame k shows plane k % len(...)."""
        return self._z_positions

    def expected_image(self, z_um: float) -> np.ndarray:
        """Noiseless counts (float32, before clipping) at ``z_um`` with the current settings."""
        return self._expected_counts(float(z_um))

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
        return self.phantom.render_plane(
            float(z_um), shape, pixel_um, origin_um=origin_um, sheet_fwhm_um=self._sheet_fwhm_um
        )

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
                z_um=self._snap_z(z_um),
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

    def _unlit_plane(self) -> _Plane:
        if self._dark_plane is None:
            self._dark_plane = self._render(0.0, lit=False)
        return self._dark_plane

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

    def _fill(self, buffer: np.ndarray, plane: _Plane, frame_id: int) -> None:
        npix = plane.counts.size
        offset = self._noise_offset()
        noise = self._noise_pool[offset : offset + npix]
        np.add(plane.counts, noise.view(np.uint16).reshape(plane.counts.shape), out=buffer)
        if plane.edge_flat.size:
            exact = plane.edge_counts + noise[plane.edge_flat]
            buffer[plane.edge_index] = np.clip(exact, 0, 65535)
        if self._stamp:
            for word in range(_STAMP_WORDS):
                buffer.flat[word] = (frame_id >> (16 * word)) & 0xFFFF

    def _noise_offset(self) -> int:
        """Offsets step through the pool so that frames of the same plane never repeat soon."""
        self._noise_counter += 1
        return (self._noise_counter * self._noise_stride) % self._noise_span

    def _prepare_noise_pool(self, npix: int) -> None:
        span = max(npix, 4096)
        if self._noise_pool.size == npix + span:
            return
        limit = min(math.ceil(_READ_NOISE_SIGMAS * self._read_noise), 32767)
        pool = self._noise_rng.standard_normal(npix + span, dtype=np.float32)
        pool *= self._read_noise
        np.rint(pool, out=pool)
        np.clip(pool, -limit, limit, out=pool)
        self._noise_pool = pool.astype(np.int16)
        self._noise_span = span
        # A stride coprime with the span visits every offset before any repeats.
        stride = int(span * 0.6180339887) | 1
        while math.gcd(stride, span) != 1:
            stride += 2
        self._noise_stride = stride

    # -- planes -----------------------------------------------------------------------------------

    def _snap_z(self, z_um: float) -> float:
        """A volume plane if z is within half a grid step of one, else the nearest grid point."""
        planes = self._sorted_planes
        i = int(np.searchsorted(planes, z_um))
        nearest = min(planes[max(i - 1, 0) : i + 1], key=lambda p: abs(p - z_um))
        if abs(nearest - z_um) <= Z_GRID_UM / 2:
            return float(nearest)
        return round(z_um / Z_GRID_UM) * Z_GRID_UM

    def _plane(self, z_um: float) -> _Plane:
        plane = self._planes.get(z_um)
        if plane is None:
            plane = self._render(z_um)
            if self._cache_bytes + plane.nbytes <= self._cache_budget:
                self._planes[z_um] = plane
                self._cache_bytes += plane.nbytes
        return plane

    def _render_volume(self) -> None:
        missing = [z for z in dict.fromkeys(self._z_positions) if z not in self._planes]
        if not missing:
            return
        began = time.monotonic()
        for z_um in missing:
            self._plane(z_um)
        uncached = [z for z in missing if z not in self._planes]
        _log.info(
            "rendered %d plane(s) of %s in %.2f s",
            len(missing),
            self.frame_shape,
            time.monotonic() - began,
        )
        if uncached:
            _log.warning(
                "%d of %d planes exceed the %d MB plane cache and are rendered for every frame "
                "(slow): raise plane_cache_mb or use fewer planes or a smaller ROI",
                len(uncached),
                len(self._z_positions),
                self._cache_budget // 2**20,
            )

    def _forget_planes(self) -> None:
        self._dark_plane = None
        self._planes.clear()
        self._cache_bytes = 0

    def _expected_counts(self, z_um: float) -> np.ndarray:
        photons = self._expected_photons(z_um)
        photons *= 1.0 / self._photons_per_count
        photons += self._dark_offset
        return photons

    def _expected_photons(self, z_um: float) -> np.ndarray:
        pixel = self._pixel_size_um * self.binning
        emission = self.phantom.render_plane(
            z_um,
            self.frame_shape,
            pixel,
            origin_um=(self.roi.y * self._pixel_size_um, self.roi.x * self._pixel_size_um),
            sheet_fwhm_um=self._sheet_fwhm_um,
        )
        emission *= self._photon_rate * self._exposure_ms
        return emission

    def _render(self, z_um: float, lit: bool = True) -> _Plane:
        """Expected photons, one shot-noise draw, counts; flags pixels that need clipping."""
        if lit:
            photons = np.minimum(self._expected_photons(z_um).reshape(-1), _MAX_PHOTONS)
        else:
            photons = np.zeros(self.frame_shape[0] * self.frame_shape[1], dtype=np.float32)
        signal = np.zeros(photons.size, dtype=np.float32)
        bright = np.flatnonzero(photons >= _MIN_LIT_PHOTONS)
        signal[bright] = self._shot_rng.poisson(photons[bright])
        signal *= 1.0 / self._photons_per_count
        signal += self._dark_offset
        np.rint(signal, out=signal)
        margin = int(np.abs(self._noise_pool).max()) if self._noise_pool.size else 32767
        edge_flat = np.flatnonzero((signal < margin) | (signal > 65535 - margin))
        # Anything above 2**20 saturates all the same; the cap keeps int32 far from overflow.
        edge_counts = np.minimum(signal[edge_flat], 2**20).astype(np.int32)
        np.clip(signal, 0, 65535, out=signal)
        counts = signal.astype(np.uint16).reshape(self.frame_shape)
        width = self.frame_shape[1]
        edge_index = (edge_flat // width, edge_flat % width)
        return _Plane(counts, edge_flat, edge_index, edge_counts)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CameraError(message)


def _phantom_box(
    z_positions: Sequence[float], sensor_shape: tuple[int, int], pixel_um: float, sheet_fwhm: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(extent, origin) of a sample that fills the field of view and the volume, with a margin."""
    low, high = min(z_positions), max(z_positions)
    margin = max(10.0, 2.0 * sheet_fwhm, 0.1 * (high - low))
    extent = (high - low + 2 * margin, sensor_shape[0] * pixel_um, sensor_shape[1] * pixel_um)
    return extent, (low - margin, 0.0, 0.0)

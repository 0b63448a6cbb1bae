"""What the simulated camera draws: planes of the phantom rendered once, and a pool of read noise.

Speed comes from doing the expensive work once per plane: the noiseless image and one shot-noise
realisation are rendered when acquisition starts (or on first use) and cached as uint16 counts.
Each frame then costs one add: the cached plane plus a window of a large read-noise pool taken at
an offset that moves every frame, so every frame differs. The add is done in modular uint16
arithmetic, which is exact wherever plane + noise stays inside 0..65535; the few pixels of each
plane that could leave that range are listed when the plane is rendered and recomputed with
clipping, so values saturate and never wrap.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lightsheet.hardware.camera.phantom import Phantom

_log = logging.getLogger(__name__)

Z_GRID_UM = 0.25  # z values off the volume's planes are rendered on this grid (sheet >> grid)
READ_NOISE_SIGMAS = 6  # read noise is clipped to this many standard deviations
MIN_LIT_PHOTONS = 1e-3  # below this expected count a pixel gets no shot noise draw (always 0)
MAX_PHOTONS = 1e12  # keeps Poisson sampling finite however bright the settings
STAMP_WORDS = 4


@dataclass(frozen=True)
class Plane:
    """One plane's frame before read noise, and the pixels near the ends of the uint16 range."""

    counts: np.ndarray  # uint16 (h, w), clipped to 0..65535
    edge_flat: np.ndarray  # flat indices of pixels that need a clipped add
    edge_index: tuple[np.ndarray, np.ndarray]  # the same pixels as (rows, cols)
    edge_counts: np.ndarray  # int32 counts of those pixels before clipping (the ADC clips last)

    @property
    def nbytes(self) -> int:
        return self.counts.nbytes + self.edge_flat.nbytes * 3 + self.edge_counts.nbytes


@dataclass(frozen=True)
class Optics:
    """What one frame's pixels see: the grid on the sample and the photons it collects."""

    shape: tuple[int, int]  # (h, w) after ROI and binning
    pixel_um: float  # binned pixel size in the sample
    origin_um: tuple[float, float]  # the ROI's top-left (y, x) in the sample
    exposure_ms: float


def decode_frame_id(frame: np.ndarray) -> int:
    """The frame id written by ``stamp_frame_id`` into the first four pixels (16 bits each)."""
    return sum(int(frame.flat[i]) << (16 * i) for i in range(STAMP_WORDS))


def stamp_frame_id(buffer: np.ndarray, frame_id: int) -> None:
    for word in range(STAMP_WORDS):
        buffer.flat[word] = (frame_id >> (16 * word)) & 0xFFFF


class NoisePool:
    """Read noise drawn once; each frame takes a window at an offset that moves every frame."""

    def __init__(self, read_noise: float, rng: np.random.Generator) -> None:
        self._read_noise = read_noise
        self._rng = rng
        self.pool = np.zeros(0, dtype=np.int16)
        self.margin = 32767  # how far the noise can move a pixel; known once the pool is drawn
        self._span = 1
        self._stride = 1
        self._counter = 0

    def prepare(self, npix: int) -> None:
        span = max(npix, 4096)
        if self.pool.size == npix + span:
            return
        limit = min(math.ceil(READ_NOISE_SIGMAS * self._read_noise), 32767)
        pool = self._rng.standard_normal(npix + span, dtype=np.float32)
        pool *= self._read_noise
        np.rint(pool, out=pool)
        np.clip(pool, -limit, limit, out=pool)
        self.pool = pool.astype(np.int16)
        self.margin = int(np.abs(self.pool).max()) if self.pool.size else 32767
        self._span = span
        # A stride coprime with the span visits every offset before any repeats.
        stride = int(span * 0.6180339887) | 1
        while math.gcd(stride, span) != 1:
            stride += 2
        self._stride = stride

    def release(self) -> None:
        self.pool = np.zeros(0, dtype=np.int16)
        self.margin = 32767

    def add_to(self, plane: Plane, out: np.ndarray) -> None:
        """``out = plane + noise`` in one pass, saturating where it must."""
        npix = plane.counts.size
        self._counter += 1
        offset = (self._counter * self._stride) % self._span
        noise = self.pool[offset : offset + npix]
        np.add(plane.counts, noise.view(np.uint16).reshape(plane.counts.shape), out=out)
        if plane.edge_flat.size:
            exact = plane.edge_counts + noise[plane.edge_flat]
            out[plane.edge_index] = np.clip(exact, 0, 65535)


class PlaneRenderer:
    """The phantom's planes as a camera with these settings records them, cached by z."""

    def __init__(self, phantom: Phantom, photon_rate: float, photons_per_count: float,
                 dark_offset: float, sheet_fwhm_um: float, shot_rng: np.random.Generator,
                 cache_bytes: int) -> None:  # fmt: skip
        self.phantom = phantom
        self._photon_rate = photon_rate
        self._photons_per_count = photons_per_count
        self._dark_offset = dark_offset
        self._sheet_fwhm_um = sheet_fwhm_um
        self._shot_rng = shot_rng
        self._budget = cache_bytes
        self._planes: dict[float, Plane] = {}
        self._dark: Plane | None = None
        self._cached_bytes = 0

    def forget(self) -> None:
        """Settings changed (exposure, ROI, binning): every plane is rendered again."""
        self._dark = None
        self._planes.clear()
        self._cached_bytes = 0

    def plane(self, z_um: float, optics: Optics, margin: int) -> Plane:
        plane = self._planes.get(z_um)
        if plane is None:
            plane = self._render(z_um, optics, margin, lit=True)
            if self._cached_bytes + plane.nbytes <= self._budget:
                self._planes[z_um] = plane
                self._cached_bytes += plane.nbytes
        return plane

    def unlit(self, optics: Optics, margin: int) -> Plane:
        if self._dark is None:
            self._dark = self._render(0.0, optics, margin, lit=False)
        return self._dark

    def render_volume(self, z_positions: Sequence[float], optics: Optics, margin: int) -> None:
        """Render (and cache, within the budget) every plane of the volume now."""
        missing = [z for z in dict.fromkeys(z_positions) if z not in self._planes]
        if not missing:
            return
        began = time.monotonic()
        for z_um in missing:
            self.plane(z_um, optics, margin)
        uncached = [z for z in missing if z not in self._planes]
        _log.info(
            "rendered %d plane(s) of %s in %.2f s",
            len(missing), optics.shape, time.monotonic() - began,
        )  # fmt: skip
        if uncached:
            _log.warning(
                "%d of %d planes exceed the %d MB plane cache and are rendered for every frame "
                "(slow): raise plane_cache_mb or use fewer planes or a smaller ROI",
                len(uncached), len(z_positions), self._budget // 2**20,
            )  # fmt: skip

    def expected_counts(self, z_um: float, optics: Optics) -> np.ndarray:
        """Noiseless counts (float32, before clipping)."""
        photons = self._expected_photons(z_um, optics)
        photons *= 1.0 / self._photons_per_count
        photons += self._dark_offset
        return photons

    def emission(self, z_um: float, shape: tuple[int, int], pixel_um: float,
                 origin_um: tuple[float, float]) -> np.ndarray:  # fmt: skip
        """The sample's emission through this camera's sheet at ``z_um`` on any pixel grid."""
        return self.phantom.render_plane(
            float(z_um), shape, pixel_um, origin_um=origin_um, sheet_fwhm_um=self._sheet_fwhm_um
        )

    def _expected_photons(self, z_um: float, optics: Optics) -> np.ndarray:
        emission = self.emission(z_um, optics.shape, optics.pixel_um, optics.origin_um)
        emission *= self._photon_rate * optics.exposure_ms
        return emission

    def _render(self, z_um: float, optics: Optics, margin: int, lit: bool) -> Plane:
        """Expected photons, one shot-noise draw, counts; flags pixels that need clipping."""
        shape = optics.shape
        if lit:
            photons = np.minimum(self._expected_photons(z_um, optics).reshape(-1), MAX_PHOTONS)
        else:
            photons = np.zeros(shape[0] * shape[1], dtype=np.float32)
        signal = np.zeros(photons.size, dtype=np.float32)
        bright = np.flatnonzero(photons >= MIN_LIT_PHOTONS)
        signal[bright] = self._shot_rng.poisson(photons[bright])
        signal *= 1.0 / self._photons_per_count
        signal += self._dark_offset
        np.rint(signal, out=signal)
        edge_flat = np.flatnonzero((signal < margin) | (signal > 65535 - margin))
        # Anything above 2**20 saturates all the same; the cap keeps int32 far from overflow.
        edge_counts = np.minimum(signal[edge_flat], 2**20).astype(np.int32)
        np.clip(signal, 0, 65535, out=signal)
        counts = signal.astype(np.uint16).reshape(shape)
        edge_index = (edge_flat // shape[1], edge_flat % shape[1])
        return Plane(counts, edge_flat, edge_index, edge_counts)


def snap_z(z_um: float, sorted_planes: np.ndarray) -> float:
    """A volume plane if z is within half a grid step of one, else the nearest grid point."""
    i = int(np.searchsorted(sorted_planes, z_um))
    nearest = min(sorted_planes[max(i - 1, 0) : i + 1], key=lambda p: abs(p - z_um))
    if abs(nearest - z_um) <= Z_GRID_UM / 2:
        return float(nearest)
    return round(z_um / Z_GRID_UM) * Z_GRID_UM


def phantom_box(
    z_positions: Sequence[float], sensor_shape: tuple[int, int], pixel_um: float, sheet_fwhm: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(extent, origin) of a sample that fills the field of view and the volume, with a margin."""
    low, high = min(z_positions), max(z_positions)
    margin = max(10.0, 2.0 * sheet_fwhm, 0.1 * (high - low))
    extent = (high - low + 2 * margin, sensor_shape[0] * pixel_um, sensor_shape[1] * pixel_um)
    return extent, (low - margin, 0.0, 0.0)

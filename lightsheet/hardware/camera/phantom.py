"""A seeded 3D fluorescent sample for the simulated camera: beads, ellipsoidal shells and fibres.

Coordinates are micrometres, ordered (z, y, x), with the sample occupying
``origin_um .. origin_um + extent_um``. Emission is in "units": a bead emits about one unit in
total, shells and fibres carry a comparable brightness per area. ``render_plane`` integrates the
emission seen through a Gaussian light sheet, so a camera turns it into photons by multiplying
with brightness and exposure. The same arguments and seed always give the same sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
_BLOB_HALF_WIDTH_SIGMAS = 4.0  # a Gaussian is negligible beyond this
BEAD_AMPLITUDE_RANGE = (0.5, 1.5)  # total emission of one bead, units
_SHEET_QUADRATURE_NODES = 7  # Gauss-Hermite nodes for integrating shells through the sheet
# The nodes and weights once, not per shell and plane: recomputing them (an eigenvalue problem)
# was a quarter of the time a run's timing report spent rendering the sample.
_SHEET_NODES, _SHEET_WEIGHTS = np.polynomial.hermite.hermgauss(_SHEET_QUADRATURE_NODES)
_SHELL_DENSITY_RANGE = (0.04, 0.08)  # units per µm³ in the shell wall
_FIBRE_LINE_DENSITY = 0.3  # units per µm of fibre per µm² of cross-section σ²


@dataclass(frozen=True)
class _Shell:
    centre: np.ndarray  # (z, y, x)
    axes: np.ndarray  # 3x3 rotation, columns are the body axes in (z, y, x)
    semi_axes: np.ndarray  # (3,)
    wall_sigma: float
    density: float

    @property
    def half_extent(self) -> np.ndarray:
        """Half size of the axis-aligned box holding the shell and its wall's tails."""
        radius = np.sqrt(((self.axes * self.semi_axes) ** 2).sum(axis=1))
        return radius + _BLOB_HALF_WIDTH_SIGMAS * self.wall_sigma


@dataclass(frozen=True)
class _Fibre:
    points: np.ndarray  # (n, 3) centres of the Gaussian blobs along the axis
    sigma: float
    weight: float  # units per blob


class Phantom:
    """Point-like beads (~1 µm) plus a few hollow ellipsoidal shells and long fibres."""

    def __init__(
        self,
        extent_um: Sequence[float],
        seed: int = 0,
        *,
        origin_um: Sequence[float] = (0.0, 0.0, 0.0),
        n_beads: int = 2000,
        n_shells: int = 3,
        n_fibres: int = 3,
        bead_fwhm_um: float = 1.0,
    ) -> None:
        extent = np.asarray(extent_um, dtype=np.float64)
        origin = np.asarray(origin_um, dtype=np.float64)
        if extent.shape != (3,) or not np.all(extent > 0):
            raise ValueError(f"extent_um must be three positive lengths (z, y, x), got {extent_um}")
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise ValueError(f"origin_um must be three finite coordinates, got {origin_um}")
        if min(n_beads, n_shells, n_fibres) < 0 or not bead_fwhm_um > 0:
            raise ValueError("object counts must be >= 0 and bead_fwhm_um > 0")
        self.extent_um = extent
        self.origin_um = origin
        self.seed = int(seed)
        self.bead_sigma_um = float(bead_fwhm_um) / FWHM_PER_SIGMA
        rng = np.random.default_rng(self.seed)
        self.bead_positions = origin + rng.uniform(0.0, 1.0, (n_beads, 3)) * extent
        self.bead_amplitudes = rng.uniform(*BEAD_AMPLITUDE_RANGE, n_beads)
        self._shells = [self._random_shell(rng) for _ in range(n_shells)]
        self._fibres = [self._random_fibre(rng) for _ in range(n_fibres)]

    def bead_peak(self, pixel_size_um: float, sheet_fwhm_um: float = 3.0) -> float:
        """Emission in the pixel under the brightest possible bead, centred on that pixel and on
        the sheet: the reference a camera's "photons at the brightest bead" setting scales."""
        sheet_sigma = float(sheet_fwhm_um) / FWHM_PER_SIGMA
        z_factor = sheet_sigma / np.hypot(sheet_sigma, self.bead_sigma_um)
        half_pixel = np.array([pixel_size_um / (2.0 * np.sqrt(2.0) * self.bead_sigma_um)])
        share = float(_erf(half_pixel)[0])
        return BEAD_AMPLITUDE_RANGE[1] * z_factor * share * share

    def render_plane(
        self,
        z_um: float,
        out_shape: tuple[int, int],
        pixel_size_um: float,
        *,
        origin_um: tuple[float, float] = (0.0, 0.0),
        sheet_fwhm_um: float = 3.0,
    ) -> np.ndarray:
        """Emission collected per pixel with the sheet centred at ``z_um``, as float32 (h, w).

        ``origin_um`` is the (y, x) of the image's top-left corner; pixels are square. The sheet
        weights the sample by a Gaussian in z with peak 1 and the given full width at half maximum.
        """
        height, width = (int(n) for n in out_shape)
        if height < 1 or width < 1 or not pixel_size_um > 0 or not sheet_fwhm_um > 0:
            raise ValueError("out_shape, pixel_size_um and sheet_fwhm_um must be positive")
        grid = _Grid(float(origin_um[0]), float(origin_um[1]), float(pixel_size_um), height, width)
        sheet_sigma = float(sheet_fwhm_um) / FWHM_PER_SIGMA
        z_um = float(z_um)
        groups = [(self.bead_positions, self.bead_amplitudes, self.bead_sigma_um)]
        groups += [(f.points, np.full(len(f.points), f.weight), f.sigma) for f in self._fibres]
        flat, weights = [], []
        for positions, amplitudes, sigma in groups:
            pixels, values = _blob_pixels(grid, positions, amplitudes, sigma, z_um, sheet_sigma)
            flat.append(pixels)
            weights.append(values)
        image = np.bincount(
            np.concatenate(flat), weights=np.concatenate(weights), minlength=height * width
        ).astype(np.float32)
        image = image.reshape(height, width)
        for shell in self._shells:
            _add_shell(image, grid, shell, z_um, sheet_sigma)
        return image

    # -- generation -------------------------------------------------------------------------------

    def _random_shell(self, rng: np.random.Generator) -> _Shell:
        lateral = min(self.extent_um[1], self.extent_um[2])
        radius = rng.uniform(0.04, 0.12) * lateral
        centre = self.origin_um + rng.uniform(0.2, 0.8, 3) * self.extent_um
        axes, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        return _Shell(
            centre=centre,
            axes=axes,
            semi_axes=radius * rng.uniform(0.7, 1.3, 3),
            wall_sigma=float(rng.uniform(0.5, 1.0)),
            density=float(rng.uniform(*_SHELL_DENSITY_RANGE)),
        )

    def _random_fibre(self, rng: np.random.Generator) -> _Fibre:
        start = self.origin_um + rng.uniform(0.0, 1.0, 3) * self.extent_um
        end = self.origin_um + rng.uniform(0.0, 1.0, 3) * self.extent_um
        # Mostly lateral, so that each plane shows a long stretch of fibre and not a dot.
        end[0] = start[0] + rng.uniform(-0.25, 0.25) * self.extent_um[0]
        sigma = float(rng.uniform(0.8, 2.0))
        spacing = sigma / 2.0  # close enough for the chain of blobs to look continuous
        n_points = max(2, int(np.ceil(np.linalg.norm(end - start) / spacing)) + 1)
        points = np.linspace(start, end, n_points)
        return _Fibre(points=points, sigma=sigma, weight=_FIBRE_LINE_DENSITY * sigma**2 * spacing)


@dataclass(frozen=True)
class _Grid:
    """Pixel grid of one image: top-left corner (y0, x0) in µm, pixel size, shape."""

    y0: float
    x0: float
    pixel: float
    height: int
    width: int

    def centres(self, axis: int, start: int, stop: int) -> np.ndarray:
        offset = self.y0 if axis == 0 else self.x0
        return offset + (np.arange(start, stop) + 0.5) * self.pixel

    def index_range(self, axis: int, low_um: float, high_um: float) -> tuple[int, int]:
        """Pixels whose centres may lie in [low_um, high_um], clipped to the image."""
        offset, size = (self.y0, self.height) if axis == 0 else (self.x0, self.width)
        start = int(np.floor((low_um - offset) / self.pixel))
        stop = int(np.ceil((high_um - offset) / self.pixel)) + 1
        return max(start, 0), min(stop, size)


def _blob_pixels(
    grid: _Grid,
    positions: np.ndarray,
    amplitudes: np.ndarray,
    sigma: float,
    z_um: float,
    sheet_sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices and emission of isotropic 3D Gaussians seen through the sheet.

    The z integral of a Gaussian blob times a Gaussian sheet is closed-form, and each blob is
    integrated exactly over the pixel area (separable erf differences), so blobs much smaller
    than a pixel keep their total emission.
    """
    var = sheet_sigma**2 + sigma**2
    dz = positions[:, 0] - z_um
    visible = np.abs(dz) < _BLOB_HALF_WIDTH_SIGMAS * np.sqrt(var)
    pos = positions[visible]
    z_falloff = np.exp(-(dz[visible] ** 2) / (2 * var))
    z_weight = amplitudes[visible] * (sheet_sigma / np.sqrt(var)) * z_falloff
    window = int(np.ceil(2 * _BLOB_HALF_WIDTH_SIGMAS * sigma / grid.pixel)) + 2
    rows, wy = _pixel_weights(pos[:, 1], grid.y0, grid.pixel, sigma, window)
    cols, wx = _pixel_weights(pos[:, 2], grid.x0, grid.pixel, sigma, window)
    patches = z_weight[:, None, None] * wy[:, :, None] * wx[:, None, :]
    rr = np.broadcast_to(rows[:, :, None], patches.shape)
    cc = np.broadcast_to(cols[:, None, :], patches.shape)
    inside = (rr >= 0) & (rr < grid.height) & (cc >= 0) & (cc < grid.width)
    return rr[inside] * grid.width + cc[inside], patches[inside]


def _pixel_weights(
    centres_um: np.ndarray, offset_um: float, pixel: float, sigma: float, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices (n, window) around each centre and the Gaussian's share in each pixel."""
    first = np.floor((centres_um - offset_um) / pixel).astype(np.int64) - window // 2
    index = first[:, None] + np.arange(window)[None, :]
    edges_low = offset_um + index * pixel - centres_um[:, None]
    scale = 1.0 / (np.sqrt(2.0) * sigma)
    share = 0.5 * (_erf((edges_low + pixel) * scale) - _erf(edges_low * scale))
    return index, share


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7); numpy has none."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = 1.061405429
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly = coefficient + t * poly
    poly = t * poly
    return sign * (1.0 - poly * np.exp(-a * a))


def _add_shell(
    image: np.ndarray, grid: _Grid, shell: _Shell, z_um: float, sheet_sigma: float
) -> None:
    """Add a hollow ellipsoid whose wall has a Gaussian profile, integrated through the sheet."""
    half = shell.half_extent
    rows = grid.index_range(0, shell.centre[1] - half[1], shell.centre[1] + half[1])
    cols = grid.index_range(1, shell.centre[2] - half[2], shell.centre[2] + half[2])
    if rows[0] >= rows[1] or cols[0] >= cols[1]:
        return
    dy = (grid.centres(0, *rows) - shell.centre[1]).astype(np.float32)
    dx = (grid.centres(1, *cols) - shell.centre[2]).astype(np.float32)
    # Scaled so that the body coordinates of a point on the surface have unit norm.
    scaled_axes = (shell.axes / shell.semi_axes[None, :]).astype(np.float32)
    mean_radius = float(np.cbrt(np.prod(shell.semi_axes)))
    region = image[rows[0] : rows[1], cols[0] : cols[1]]
    for node, weight in zip(_SHEET_NODES, _SHEET_WEIGHTS, strict=True):
        dz = z_um + np.sqrt(2.0) * sheet_sigma * node - shell.centre[0]
        if abs(dz) > half[0]:
            continue
        radius_sq = np.zeros(region.shape, dtype=np.float32)
        for z_part, y_part, x_part in scaled_axes.T:
            body = np.add.outer(np.float32(z_part * dz) + y_part * dy, x_part * dx)
            np.multiply(body, body, out=body)
            radius_sq += body
        # Distance to the wall, to first order in how far the point is from the surface.
        distance = np.sqrt(radius_sq, out=radius_sq)
        distance -= 1.0
        distance *= mean_radius / (np.sqrt(2.0) * shell.wall_sigma)
        np.multiply(distance, distance, out=distance)
        np.negative(distance, out=distance)
        profile = np.exp(distance, out=distance)
        profile *= np.sqrt(2.0) * sheet_sigma * weight * shell.density * grid.pixel**2
        region += profile

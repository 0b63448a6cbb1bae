"""Where each plane was really imaged: saved frames matched against the known sample.

Each frame is correlated (Pearson) with the sample rendered through the sheet at candidate z
around the plane's commanded z, coarse first and then on a fine grid around the best coarse
match; a parabola through the peak and its neighbours places it between grid points. Large
frames are block-summed to at most ``MAX_SIDE`` pixels a side and the sample rendered at that
pixel size, so the whole field of view takes part at a bounded cost. A few volumes spread over
the run are read, not all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_SIDE = 256  # analysed pixels per side after block-summing
MAX_VOLUMES = 6  # volumes read per run, spread from the first to the last
MAX_PLANES = 48  # planes analysed per volume, spread over the sweep
MIN_CORRELATION = 0.3  # below this a frame does not show the sample (dark, or not this sample)
PLANAR_TOLERANCE_UM = 1.0  # a single plane has no spacing to take a quarter of

Renderer = Callable[[float, tuple[int, int], float, tuple[float, float]], np.ndarray]


@dataclass(frozen=True)
class AnalysisGrid:
    """The part of each frame that is analysed, block-summed ``factor`` x ``factor``."""

    factor: int
    rows: slice
    cols: slice
    shape: tuple[int, int]
    pixel_um: float
    origin_um: tuple[float, float]

    def reduce(self, frames: np.ndarray) -> np.ndarray:
        """(n, h, w) frames cut and block-summed to (n, *shape) float32."""
        cut = np.asarray(frames)[:, self.rows, self.cols]
        f = self.factor
        if f == 1:
            return cut.astype(np.float32)
        n, (h, w) = len(cut), self.shape
        # Rows then columns: two sums over neighbouring axes are ~4x faster than one over both.
        rows = cut.reshape(n, h, f, w * f).sum(axis=2, dtype=np.float32)
        return rows.reshape(n, h, w, f).sum(axis=3)


def analysis_grid(
    frame_shape: tuple[int, int], pixel_um: float, origin_um: tuple[float, float]
) -> AnalysisGrid:
    """The centred region of frames of ``pixel_um`` pixels (binning included) whose top-left
    pixel is at ``origin_um`` (y, x) in the sample."""
    height, width = frame_shape
    factor = max(1, math.ceil(max(height, width) / MAX_SIDE))
    side_h, side_w = min(height // factor, MAX_SIDE), min(width // factor, MAX_SIDE)
    r0, c0 = (height - side_h * factor) // 2, (width - side_w * factor) // 2
    origin = (origin_um[0] + r0 * pixel_um, origin_um[1] + c0 * pixel_um)
    return AnalysisGrid(
        factor,
        slice(r0, r0 + side_h * factor),
        slice(c0, c0 + side_w * factor),
        (side_h, side_w),
        pixel_um * factor,
        origin,
    )


def normalised(images: np.ndarray) -> np.ndarray:
    """Rows of zero mean and unit norm (all zeros where an image is flat), for correlation."""
    flat = images.reshape(len(images), -1).astype(np.float32, copy=True)
    flat -= flat.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    np.divide(flat, norm, out=flat, where=norm > 0)
    flat[norm[:, 0] == 0] = 0.0
    return flat


class ReferenceStack:
    """The sample rendered on the analysis grid at multiples of ``step`` µm, cached."""

    def __init__(self, render: Renderer, grid: AnalysisGrid, step_um: float) -> None:
        self._render = render
        self._grid = grid
        self.step_um = step_um
        self._cache: dict[int, np.ndarray] = {}
        self.renders = 0

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """Normalised reference images at z = key * step, one row per key."""
        for key in keys:
            if int(key) not in self._cache:
                grid = self._grid
                image = self._render(key * self.step_um, grid.shape, grid.pixel_um, grid.origin_um)
                self._cache[int(key)] = normalised(image[None])[0]
                self.renders += 1
        return np.stack([self._cache[int(key)] for key in keys])

    def forget_below(self, key: int) -> None:
        for old in [k for k in self._cache if k < key]:
            del self._cache[old]


@dataclass(frozen=True)
class Search:
    """How far and how finely z is searched around a commanded plane."""

    window_um: float
    fine_um: float
    coarse_um: float
    tolerance_um: float


def search_for(spacing_um: float | None) -> Search:
    """A quarter of the plane spacing is the tolerance; the fine grid resolves well below it."""
    if spacing_um is None or spacing_um <= 0:
        return Search(5.0, 0.25, 1.0, PLANAR_TOLERANCE_UM)
    fine = min(0.5, max(0.05, spacing_um / 4))
    window = max(1.5 * spacing_um, 3.0)
    coarse = fine * max(1, round(min(max(fine, window / 8), 2.0) / fine))
    return Search(window, fine, coarse, spacing_um / 4)


def locate(
    frames: np.ndarray, z_um: float, refs: ReferenceStack, search: Search
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best-matching z (µm) of each normalised frame near ``z_um``, its correlation, and
    whether the match sits on the edge of the search window (the error is at least that)."""
    step = refs.step_um
    low, high = round((z_um - search.window_um) / step), round((z_um + search.window_um) / step)
    stride = max(1, round(search.coarse_um / step))
    coarse = np.arange(low - low % stride, high + 1, stride)
    coarse = coarse[(coarse >= low) & (coarse <= high)]
    best = coarse[np.argmax(frames @ refs.rows(coarse).T, axis=1)]
    fine = np.arange(max(low, best.min() - stride), min(high, best.max() + stride) + 1)
    corr = frames @ refs.rows(fine).T
    peak = np.argmax(corr, axis=1)
    rows = np.arange(len(frames))
    inner = (peak > 0) & (peak < len(fine) - 1)
    offset = np.zeros(len(frames))
    left, mid = corr[rows[inner], peak[inner] - 1], corr[rows[inner], peak[inner]]
    right = corr[rows[inner], peak[inner] + 1]
    curve = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset[inner] = np.where(curve < 0, np.clip(0.5 * (left - right) / curve, -0.5, 0.5), 0)
    keys = fine[peak] + offset
    at_edge = (fine[peak] == low) | (fine[peak] == high)
    return keys * step, corr[rows, peak], at_edge

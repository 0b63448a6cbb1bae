"""Background correction, binning and maximum projection, in place or into a given output.

These are the functions both engines run (the worker pool on shared arrays and dask on the
cluster), on the same float32 planes, so their results are bit for bit the same. Every step is
element-wise in a fixed order (no reduction whose summation order could depend on memory
alignment or chunking), which is what makes that hold.

Correction: ``(raw − dark) / (flat − dark) × mean(flat − dark)``, computed as
``(raw − dark) × gain`` with ``gain = mean(flat − dark) / (flat − dark)`` prepared once; where
``flat − dark`` is not positive (a dead pixel, or a flat darker than the dark) the gain is 0 so
the result is 0 instead of an infinity or NaN.
"""

from __future__ import annotations

import numpy as np

FLOAT = np.float32
BLOCK_BYTES = 256 * 1024  # rows processed together: well within a core's L2 cache


def correction_gain(dark: np.ndarray | None, flat: np.ndarray) -> np.ndarray:
    """The float32 gain image of a flat (and dark) image; see the module's docstring."""
    flat = np.asarray(flat, dtype=FLOAT)
    span = flat - (np.asarray(dark, dtype=FLOAT) if dark is not None else FLOAT(0))
    valid = span > 0
    if not valid.any():
        raise ValueError("the flat image is nowhere brighter than the dark image")
    mean = FLOAT(span.mean(dtype=np.float64))
    gain = np.zeros_like(span)
    np.divide(mean, span, out=gain, where=valid)
    return gain


def subtract_dark(image: np.ndarray, dark: np.ndarray) -> None:
    """``image −= dark`` in place (two-array operation)."""
    np.subtract(image, dark, out=image)


def apply_gain(image: np.ndarray, gain: np.ndarray) -> None:
    """``image ×= gain`` in place: the division by the flat, prepared as a gain."""
    np.multiply(image, gain, out=image)


def binned_shape(shape: tuple[int, int], factor: int) -> tuple[int, int]:
    """(y, x) after binning by ``factor``; edge rows and columns that do not fill a bin drop."""
    height, width = shape[0] // factor, shape[1] // factor
    if height < 1 or width < 1:
        raise ValueError(f"cannot bin a {shape[0]} × {shape[1]} image by {factor}")
    return height, width


def bin_image(image: np.ndarray, out: np.ndarray, factor: int) -> None:
    """``out`` = the mean of each ``factor`` × ``factor`` block of ``image``."""
    height, width = out.shape
    blocks = image[: height * factor, : width * factor].reshape(height, factor, width, factor)
    np.copyto(out, blocks[:, 0, :, 0])
    for row in range(factor):
        for col in range(factor):
            if row or col:
                np.add(out, blocks[:, row, :, col], out=out)
    np.divide(out, FLOAT(factor * factor), out=out)


def process_plane(
    plane: np.ndarray,
    present: np.ndarray | bool,
    binned: np.ndarray | None = None,
    *,
    dark: np.ndarray | None = None,
    gain: np.ndarray | None = None,
    factor: int = 1,
) -> None:
    """Correct one float32 plane in place and bin it into ``binned`` if given.

    A plane whose frame never arrived (``present`` false) stays zero: a recorded gap is not
    turned into ``−dark``.
    """
    if not bool(present):
        plane[...] = 0
    elif dark is not None or gain is not None:
        # Both passes over a band of rows while it is in the core's cache: one trip through
        # memory instead of two (2.5x faster than whole planes on 2048 x 2048 images).
        step = max(1, BLOCK_BYTES // max(1, plane[:1].nbytes))
        for top in range(0, plane.shape[0], step):
            rows = slice(top, top + step)
            band = plane[rows]
            if dark is not None:
                subtract_dark(band, dark[rows])
            if gain is not None:
                apply_gain(band, gain[rows])
    if binned is not None:
        bin_image(plane, binned, factor)


def max_project(volume: np.ndarray, out: np.ndarray) -> None:
    """``out`` = the maximum of ``volume`` (z, y, x) over z."""
    np.copyto(out, volume[0])
    for plane in volume[1:]:
        np.maximum(out, plane, out=out)


def process_block(
    block: np.ndarray,
    present: np.ndarray,
    *,
    dark: np.ndarray | None = None,
    gain: np.ndarray | None = None,
    factor: int = 1,
) -> np.ndarray:
    """A (t, z, y, x) block of raw planes as corrected (and binned) float32 planes: what the
    pool does plane by plane, for an engine that hands over whole blocks (dask)."""
    # Always a copy: a block handed over by an engine may be shared with other tasks.
    planes = np.array(block, dtype=FLOAT, order="C", copy=True).reshape(-1, *block.shape[-2:])
    flags = np.asarray(present, dtype=bool).reshape(-1)
    if factor == 1:
        for plane, flag in zip(planes, flags, strict=True):
            process_plane(plane, flag, dark=dark, gain=gain)
        return planes.reshape(block.shape)
    height, width = binned_shape(block.shape[-2:], factor)
    out = np.empty((planes.shape[0], height, width), FLOAT)
    for plane, flag, binned in zip(planes, flags, out, strict=True):
        process_plane(plane, flag, binned, dark=dark, gain=gain, factor=factor)
    return out.reshape(*block.shape[:-2], height, width)

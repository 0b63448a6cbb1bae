"""Small runs written straight through the storage layer (a run in milliseconds), and the plain
numpy reference of what processing must produce from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightsheet.storage import FRAMES_DTYPE, ChunkWriter, write_metadata

SHAPE = (4, 5, 48, 42)  # (t, z, y, x): 42 is not a multiple of 4, so binning drops an edge
MISSING = ((1, 2),)  # (volume, plane) whose frame never arrived


def write_run(
    run_dir: Path,
    shape: tuple[int, int, int, int] = SHAPE,
    per_chunk: int = 3,
    missing: tuple[tuple[int, int], ...] = MISSING,
    seed: int = 0,
    level: float = 1000.0,
) -> np.ndarray:
    """A run of uint16 volumes around ``level``; returns its data as written (gaps zero)."""
    volumes, planes = shape[:2]
    rng = np.random.default_rng(seed)
    data = rng.integers(int(level * 0.7), int(level * 1.3), shape, dtype=np.uint16)
    for volume, plane in missing:
        data[volume, plane] = 0
    with ChunkWriter(
        run_dir,
        shape[1:],
        np.uint16,
        per_chunk,
        attrs={"pixel_size_um": 0.5, "z_step_um": 2.0, "mode": "volumetric"},
        waveforms={"sample_rate": 1000.0, "channels": {"galvo": np.linspace(-1, 1, 16)}},
    ) as writer:
        for volume in range(volumes):
            writer.write_volume(data[volume], _frames(volume, planes, missing))
    write_metadata(
        run_dir,
        {
            "stop_reason": "completed",
            "volumes_saved": volumes,
            "frames_acquired": volumes * planes - len(missing),
        },
    )
    return data


def _frames(volume: int, planes: int, missing) -> np.ndarray:
    rows = np.zeros(planes, FRAMES_DTYPE)
    rows["frame_id"] = volume * planes + np.arange(planes)
    rows["camera_ts"] = rows["frame_id"] / 100
    rows["host_ts"] = 1000 + rows["frame_id"] / 100
    rows["volume"] = volume
    rows["plane"] = np.arange(planes)
    rows["present"] = True
    for v, plane in missing:
        if v == volume:
            rows[plane]["present"] = False
            rows[plane]["frame_id"] = -1
    return rows


def present_mask(shape=SHAPE, missing=MISSING) -> np.ndarray:
    mask = np.ones(shape[:2], bool)
    for volume, plane in missing:
        mask[volume, plane] = False
    return mask


def reference(
    raw: np.ndarray,
    present: np.ndarray,
    dark: np.ndarray | None = None,
    flat: np.ndarray | None = None,
    factor: int = 1,
) -> np.ndarray:
    """The issue's formula written plainly: (raw − dark) / (flat − dark) × mean(flat − dark)."""
    out = raw.astype(np.float32)
    d = np.zeros(raw.shape[-2:], np.float32) if dark is None else dark.astype(np.float32)
    out = out - d
    if flat is not None:
        span = flat.astype(np.float32) - d
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(span > 0, out / span * span.mean(dtype=np.float64), 0)
    out[~present] = 0
    if factor > 1:
        t, z, y, x = out.shape
        h, w = y // factor, x // factor
        out = out[..., : h * factor, : w * factor].reshape(t, z, h, factor, w, factor)
        out = out.mean(axis=(3, 5))
    return out.astype(np.float32)

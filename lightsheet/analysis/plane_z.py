"""The z each plane of a saved run was really imaged at, against the z the run commanded.

Needs a known sample: the simulated camera's seeded phantom, rebuilt from the run's resolved
config exactly as the camera process built it (same seed, sensor, pixel size and planes). A real
camera has none, and the figures say so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.analysis.schedule import Schedule
from lightsheet.analysis.z_alignment import (
    MAX_PLANES,
    MAX_VOLUMES,
    MIN_CORRELATION,
    AnalysisGrid,
    ReferenceStack,
    Renderer,
    Search,
    analysis_grid,
    locate,
    normalised,
    search_for,
)
from lightsheet.config import RigConfig
from lightsheet.hardware.camera.factory import sample_reference
from lightsheet.storage.run_reader import open_run


@dataclass
class PlaneAlignment:
    """Per analysed plane: commanded and measured z (median over its frames), the frame
    furthest off, and how many frames matched the sample."""

    planes: np.ndarray
    commanded_um: np.ndarray
    measured_um: np.ndarray  # NaN where no frame matched
    worst_um: np.ndarray  # the error of the frame furthest off; NaN where none matched
    matched: np.ndarray
    analysed: np.ndarray
    at_edge: np.ndarray  # a frame matched on the edge of the window: the error is at least that
    search: Search
    reference: str
    volumes: list[int]

    @property
    def error_um(self) -> np.ndarray:
        return self.measured_um - self.commanded_um


def references(config: RigConfig, run_mode: str) -> list[tuple[str, Renderer]]:
    """The sample a run may have imaged: built for the run's mode and for the config's (a GUI
    session sizes its sample when it starts, which may have been in the other mode)."""
    found = []
    for mode in dict.fromkeys((run_mode, config.scanning.mode)):
        render = sample_reference(config.camera, config.scanning.imaged_z_um(mode))
        if render is None:
            return []
        seed = config.camera.simulated.seed
        found.append((f"simulated sample, seed {seed}, sized for {mode}", render))
    return found


def frame_grid(config: RigConfig, frame_shape: tuple[int, int]) -> AnalysisGrid:
    """Where the saved frames sit in the sample: the ROI offset as the camera snapped it."""
    camera = config.camera
    binning = camera.binning
    x, y, _, _ = camera.roi_box
    x = min(max(x, 0), camera.sensor_width - binning) // binning * binning
    y = min(max(y, 0), camera.sensor_height - binning) // binning * binning
    pixel = camera.pixel_size_um
    return analysis_grid(frame_shape, pixel * binning, (y * pixel, x * pixel))


def align_run(
    run_dir: Path, config: RigConfig, schedule: Schedule, table: np.ndarray
) -> PlaneAlignment | str:
    """The alignment of the run's planes, or one line saying why there is none."""
    candidates = references(config, schedule.mode)
    if not candidates:
        return f"no known sample for camera backend {config.camera.backend!r}"
    planes_per_volume = schedule.frames_per_period
    present = table["present"].astype(bool)
    if present.size % planes_per_volume:
        return "the per-frame table does not hold whole volumes"
    present = present.reshape(-1, planes_per_volume)
    search = search_for(schedule.plane_spacing_um)
    dataset = open_run(run_dir)
    try:
        grid = frame_grid(config, tuple(dataset.shape[2:]))
        volumes = _spread(present.shape[0], MAX_VOLUMES)
        planes = _spread(planes_per_volume, MAX_PLANES)
        planes = planes[np.argsort(schedule.plane_z_um[planes], kind="stable")]
        frames = {int(p): _plane_frames(dataset, volumes, int(p), present, grid) for p in planes}
    finally:
        dataset.file.close()
    label, render = _pick_reference(candidates, frames, schedule, grid, search)
    result = _align(frames, planes, schedule, ReferenceStack(render, grid, search.fine_um), search)
    return PlaneAlignment(**result, search=search, reference=label, volumes=volumes.tolist())


def _spread(count: int, most: int) -> np.ndarray:
    return np.unique(np.round(np.linspace(0, count - 1, min(count, most))).astype(np.int64))


def _plane_frames(
    dataset: Any, volumes: np.ndarray, plane: int, present: np.ndarray, grid: AnalysisGrid
) -> np.ndarray:
    """The plane's normalised frames from the chosen volumes where it arrived."""
    chosen = [int(t) for t in volumes if present[t, plane]]
    if not chosen:
        return np.zeros((0, grid.shape[0] * grid.shape[1]), dtype=np.float32)
    # One plane per read: a list index on a virtual dataset is ~30x slower than this loop.
    return normalised(grid.reduce(np.stack([dataset[t, plane] for t in chosen])))


def _pick_reference(
    candidates: list[tuple[str, Renderer]],
    frames: dict[int, np.ndarray],
    schedule: Schedule,
    grid: AnalysisGrid,
    search: Search,
) -> tuple[str, Renderer]:
    """The candidate sample the middle plane's frames match best (the first when one fits)."""
    plane = max(frames, key=lambda p: len(frames[p]))
    best, best_score = candidates[0], -1.0
    for label, render in candidates:
        if not len(frames[plane]):
            break
        stack = ReferenceStack(render, grid, search.fine_um)
        _, corr, _ = locate(frames[plane], schedule.plane_z_um[plane], stack, search)
        score = float(np.median(corr))
        if score > best_score:
            best, best_score = (label, render), score
        if score >= MIN_CORRELATION:
            break
    return best


def _align(
    frames: dict[int, np.ndarray],
    planes: np.ndarray,
    schedule: Schedule,
    stack: ReferenceStack,
    search: Search,
) -> dict[str, Any]:
    n = len(planes)
    out = {
        "planes": planes,
        "commanded_um": schedule.plane_z_um[planes],
        "measured_um": np.full(n, np.nan),
        "worst_um": np.full(n, np.nan),
        "matched": np.zeros(n, dtype=np.int64),
        "analysed": np.array([len(frames[int(p)]) for p in planes], dtype=np.int64),
        "at_edge": np.zeros(n, dtype=bool),
    }
    for i, plane in enumerate(planes):
        commanded = float(out["commanded_um"][i])
        stack.forget_below(round((commanded - 2 * search.window_um) / stack.step_um))
        if not len(frames[int(plane)]):
            continue
        z_um, corr, edge = locate(frames[int(plane)], commanded, stack, search)
        good = corr >= MIN_CORRELATION
        out["matched"][i] = int(good.sum())
        if good.any():
            errors = z_um[good] - commanded
            out["measured_um"][i] = float(np.median(z_um[good]))
            out["worst_um"][i] = float(errors[np.argmax(np.abs(errors))])
            out["at_edge"][i] = bool(edge[good].any())
    return out


def alignment_figures(alignment: PlaneAlignment, spacing_um: float | None) -> dict[str, Any]:
    """The JSON figures of an alignment: per plane, and the worst."""
    error = alignment.error_um
    known = np.isfinite(error)
    per_plane = [
        {
            "plane": int(p),
            "commanded_um": float(c),
            "measured_um": _finite(m),
            "error_um": _finite(e),
            "worst_frame_error_um": _finite(w),
            "frames": int(a),
            "matched": int(k),
        }
        for p, c, m, e, w, a, k in zip(
            alignment.planes, alignment.commanded_um, alignment.measured_um, error,
            alignment.worst_um, alignment.analysed, alignment.matched, strict=True,
        )
    ]
    figures: dict[str, Any] = {
        "available": True,
        "reference": alignment.reference,
        "plane_spacing_um": spacing_um,
        "tolerance_um": alignment.search.tolerance_um,
        "volumes_analysed": alignment.volumes,
        "planes_analysed": len(alignment.planes),
        "frames_analysed": int(alignment.analysed.sum()),
        "frames_matched": int(alignment.matched.sum()),
        "worst_error_um": None,
        "worst_plane": None,
        "mean_abs_error_um": None,
        "beyond_search_window": bool(alignment.at_edge.any()),
        "per_plane": per_plane,
    }
    if known.any():
        worst = int(np.flatnonzero(known)[np.argmax(np.abs(error[known]))])
        figures.update(
            worst_error_um=float(error[worst]),
            worst_plane=int(alignment.planes[worst]),
            mean_abs_error_um=float(np.abs(error[known]).mean()),
            planes_off=int(np.sum(np.abs(error[known]) > alignment.search.tolerance_um)),
        )
    return figures


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None

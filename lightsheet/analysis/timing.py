"""The timing report of a saved run: was every plane taken where and when the run says?

``timing_section(run_dir)`` is called at the end of every run and never raises: a run with no
frame, a faulted, planar or gappy run gets a section whose verdict says what could be judged.
Each group of figures is computed on its own, so one that fails becomes a note and the rest
still stand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lightsheet.analysis.exposure import delay_from_z, lit_shares
from lightsheet.analysis.inputs import RunInputs, load_run_inputs
from lightsheet.analysis.intervals import (
    FrameTimes,
    Intervals,
    clock_drift,
    consecutive_intervals,
    interval_figures,
    lateness_figures,
    present_frames,
    volume_period,
)
from lightsheet.analysis.plane_z import PlaneAlignment, align_run, alignment_figures
from lightsheet.analysis.schedule import Schedule, schedule_from_waveforms
from lightsheet.analysis.verdict import LIT_SHARE_MIN, judge
from lightsheet.storage.metadata import json_safe
from lightsheet.storage.run_reader import RunError, frame_gaps

log = logging.getLogger(__name__)

SECTION_VERSION = 1
_LISTED_GAPS = 10
# Decimals kept per unit (key suffix) or kind of figure (part of the key).
_DECIMALS = (
    ("_ms", 6), ("_us", 3), ("_um", 4), ("_ppm", 3), ("_s", 9), ("share", 4), ("ratio", 9),
)
T = TypeVar("T")


@dataclass
class TimingReport:
    """The section that goes into metadata.json, and the per-frame arrays behind it."""

    section: dict[str, Any]
    times: FrameTimes | None = None
    intervals: Intervals | None = None
    residuals_s: np.ndarray | None = None
    alignment: PlaneAlignment | None = None
    notes: list[str] = field(default_factory=list)


def timing_section(run_dir: str | Path) -> dict[str, Any]:
    """The ``timing`` section of a run's metadata.json (JSON types only); never raises."""
    try:
        return analyse_timing(run_dir).section
    except Exception as exc:  # the end of a run must get a section whatever went wrong
        if isinstance(exc, RunError):
            log.warning("no timing report: %s", exc)
        else:
            log.exception("timing report of %s failed", run_dir)
        return {
            "version": SECTION_VERSION,
            "verdict": "unknown",
            "in_sync": None,
            "summary": f"unknown: the timing could not be analysed ({exc})",
            "reasons": [],
            "notes": [f"{type(exc).__name__}: {exc}"],
        }


def analyse_timing(run_dir: str | Path) -> TimingReport:
    """Every timing figure of a run; raises ``RunError`` only when the folder is not a run."""
    inputs = load_run_inputs(run_dir)
    report = TimingReport(section={}, notes=list(inputs.notes))
    schedule = _guard(report, "the commanded schedule", lambda: _schedule(inputs))
    section: dict[str, Any] = {
        "version": SECTION_VERSION,
        "mode": inputs.mode,
        "trigger_mode": inputs.trigger_mode,
        "frames": _frame_figures(inputs),
    }
    if inputs.frames is not None:
        report.times = present_frames(inputs.frames)
    if report.times is not None and report.times.count:
        section.update(_timing_figures(report, inputs, schedule))
        section["z_alignment"] = _z_figures(report, inputs, schedule)
        section["exposure"] = _exposure_figures(report, inputs, schedule, section["z_alignment"])
    section = _rounded(json_safe(section))  # judged on the figures as they are stored
    in_sync, summary, reasons = judge(section)
    section.update(
        verdict={True: "in sync", False: "out of sync", None: "unknown"}[in_sync],
        in_sync=in_sync,
        summary=summary,
        reasons=reasons,
        notes=report.notes,
    )
    report.section = section
    return report


def _rounded(value: Any, key: str = "") -> Any:
    """Figures rounded to what their unit resolves, so float noise does not read as data."""
    if isinstance(value, dict):
        return {name: _rounded(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item, key) for item in value]
    if isinstance(value, float):
        for marker, decimals in _DECIMALS:
            if key.endswith(marker) or (not marker.startswith("_") and marker in key):
                return round(value, decimals)
    return value


def _guard(report: TimingReport, what: str, compute: Callable[[], T]) -> T | None:
    try:
        return compute()
    except Exception as exc:  # one failed figure group must not cost the others
        log.warning("timing report: %s failed: %s", what, exc, exc_info=True)
        report.notes.append(f"{what}: not computed ({exc})")
        return None


def _schedule(inputs: RunInputs) -> Schedule | None:
    if inputs.waveforms is None:
        return None
    schedule = schedule_from_waveforms(inputs.waveforms)
    planes = inputs.planes_per_volume
    if planes is not None and planes != schedule.frames_per_period:
        raise ValueError(
            f"/waveforms triggers {schedule.frames_per_period} frame(s) per period, the run "
            f"saves {planes} plane(s) per volume"
        )
    return schedule


def _frame_figures(inputs: RunInputs) -> dict[str, Any]:
    meta = inputs.metadata
    figures: dict[str, Any] = {
        "present": 0,
        "dropped_by_pipeline": meta.get("frames_dropped"),
        "stop_reason": meta.get("stop_reason"),
    }
    table = inputs.frames
    if table is None or not table.size:
        return figures
    present = table["present"].astype(bool)
    found = np.flatnonzero(present)
    last = int(found[-1]) if found.size else -1
    in_run = frame_gaps(present[: last + 1], inputs.planes_per_volume or 1)
    figures.update(
        present=int(found.size),
        saved_planes=int(present.size),
        missing=int((~present).sum()),
        missing_in_run=int(sum(gap.frames for gap in in_run)),
        missing_after_last=int((~present[last + 1 :]).sum()),
        gaps=len(in_run),
        gap_list=[gap._asdict() for gap in in_run[:_LISTED_GAPS]],
    )
    return figures


def _timing_figures(
    report: TimingReport, inputs: RunInputs, schedule: Schedule | None
) -> dict[str, Any]:
    times = report.times
    assert times is not None
    report.intervals = consecutive_intervals(times, schedule)
    figures: dict[str, Any] = {
        "interval": interval_figures(report.intervals, schedule),
        "clock": clock_drift(times),
        "volume_period": volume_period(times, inputs.planes_per_volume or 1, schedule),
    }
    if schedule is not None:
        lateness = _guard(report, "frames off schedule", lambda: lateness_figures(times, schedule))
        if lateness is not None:
            figures["schedule"], report.residuals_s = lateness
    return figures


def _z_figures(
    report: TimingReport, inputs: RunInputs, schedule: Schedule | None
) -> dict[str, Any]:
    if inputs.config is None or schedule is None or inputs.frames is None:
        return {"available": False, "why": "no config or no commanded schedule in the run"}
    config, table = inputs.config, inputs.frames
    result = _guard(
        report, "z alignment", lambda: align_run(inputs.run_dir, config, schedule, table)
    )
    if result is None:
        return {"available": False, "why": "the alignment failed (see notes)"}
    if isinstance(result, str):
        return {"available": False, "why": result}
    report.alignment = result
    figures = alignment_figures(result, schedule.plane_spacing_um)
    exposure_s = float(config.camera.exposure_ms) / 1e3
    figures["delay_from_z"] = delay_from_z(
        schedule, result.planes, result.measured_um, exposure_s, result.search.fine_um
    )
    return figures


def _exposure_figures(
    report: TimingReport, inputs: RunInputs, schedule: Schedule | None, z: dict[str, Any]
) -> dict[str, Any]:
    if schedule is None or inputs.config is None or report.times is None:
        return {"available": False, "why": "no config or no commanded schedule in the run"}
    if inputs.trigger_mode == "internal":
        return {
            "available": False,
            "why": "the camera free-runs: its exposures are not tied to the laser pulses",
        }
    times = report.times
    delay = z.get("delay_from_z") or {}
    from_z = bool(delay.get("significant"))
    delay_s = delay["delay_ms"] / 1e3 if from_z else 0.0
    jitter = report.residuals_s if report.residuals_s is not None else np.zeros(times.count)
    exposure_s = float(inputs.config.camera.exposure_ms) / 1e3
    planes = schedule.plane_of(times.ids)
    shares = lit_shares(schedule, planes, jitter + delay_s, exposure_s)
    if not np.isfinite(shares).any():
        return {"available": False, "why": "no laser_blanking channel in /waveforms"}
    per_plane = [float(np.nanmean(shares[planes == p])) for p in np.unique(planes)]
    lowest = int(np.nanargmin(shares))
    return {
        "available": True,
        "exposure_ms": exposure_s * 1e3,
        "laser_pulse_ms": schedule.exposure_samples / schedule.sample_rate_hz * 1e3,
        "delay_ms": delay_s * 1e3,
        "delay_source": "z alignment" if from_z else "assumed: exposure starts at its trigger",
        "lit_share_mean": float(np.nanmean(shares)),
        "lit_share_min": float(shares[lowest]),
        "least_lit_frame_id": int(times.ids[lowest]),
        "frames_under_lit": int(np.sum(shares < LIT_SHARE_MIN)),
        "lit_share_per_plane": per_plane,
    }


"""Frame timing against the commanded schedule: intervals, jitter, frames off schedule, the
camera clock against the host's, the volume period. Pure numpy over the saved frames.

Times come from the camera's own clock (``camera_ts``, the start of each exposure), which is
what says when a plane was taken; ``host_ts`` (when the host read the frame) is used only to
measure the camera clock's drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lightsheet.analysis.schedule import Schedule

#: A frame is late (or early) when it is off its commanded time by more than this many intervals.
LATE_FRACTION = 0.1
_INLIER_FRACTION = 0.25  # frames this close to the schedule decide the camera clock's fit
_FIT_ROUNDS = 8
_DRIFT_BINS = 20  # stretches of the run whose promptest frame fits the clock rate
_DRIFT_MIN_PER_BIN = 3
#: A camera clock off the host's by more than this is the host falling behind, not a drift.
PLAUSIBLE_DRIFT_PPM = 1000.0


@dataclass(frozen=True)
class FrameTimes:
    """The frames that arrived, in frame-id order."""

    ids: np.ndarray
    camera_ts: np.ndarray
    host_ts: np.ndarray

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Intervals:
    """Consecutive frame pairs (ids f, f + 1): when, how long, and how long commanded."""

    at_s: np.ndarray  # the later frame's time since the run's first frame
    measured_s: np.ndarray
    commanded_s: np.ndarray | None
    sweep: np.ndarray  # bool: an interval between planes of one sweep (no flyback in it)


def present_frames(table: np.ndarray) -> FrameTimes:
    """The rows of a per-frame table whose frame arrived with a usable camera time."""
    keep = table["present"].astype(bool) & np.isfinite(table["camera_ts"])
    keep &= table["frame_id"] >= 0
    rows = table[keep]
    order = np.argsort(rows["frame_id"], kind="stable")
    rows = rows[order]
    return FrameTimes(
        rows["frame_id"].astype(np.int64),
        rows["camera_ts"].astype(np.float64),
        rows["host_ts"].astype(np.float64),
    )


def consecutive_intervals(times: FrameTimes, schedule: Schedule | None) -> Intervals:
    pairs = np.flatnonzero(np.diff(times.ids) == 1)
    measured = np.diff(times.camera_ts)[pairs]
    at = times.camera_ts[pairs + 1] - (times.camera_ts[0] if times.count else 0.0)
    if schedule is None:
        return Intervals(at, measured, None, np.ones(len(pairs), dtype=bool))
    commanded = np.diff(schedule.commanded_time_s(times.ids))[pairs]
    half_sample = 0.5 / schedule.sample_rate_hz
    sweep = np.abs(commanded - schedule.frame_interval_s) < half_sample
    return Intervals(at, measured, commanded, sweep)


def interval_figures(intervals: Intervals, schedule: Schedule | None) -> dict[str, Any]:
    """Mean, spread, percentiles and worst of the sweep intervals; jitter over every pair."""
    commanded = None if schedule is None else schedule.frame_interval_s
    figures: dict[str, Any] = {"commanded_ms": _ms(commanded), "count": 0}
    sweep = intervals.measured_s[intervals.sweep]
    if sweep.size == 0:
        return figures
    reference = commanded if commanded is not None else float(np.median(sweep))
    worst = int(np.argmax(np.abs(sweep - reference)))
    figures.update(
        count=int(sweep.size),
        mean_ms=_ms(sweep.mean()),
        std_ms=_ms(sweep.std()),
        p1_ms=_ms(np.percentile(sweep, 1)),
        p99_ms=_ms(np.percentile(sweep, 99)),
        min_ms=_ms(sweep.min()),
        max_ms=_ms(sweep.max()),
        worst_ms=_ms(sweep[worst]),
    )
    if intervals.commanded_s is not None:
        error = intervals.measured_s - intervals.commanded_s
        figures["jitter_us"] = float(error.std() * 1e6)
        figures["rate_ratio"] = float(intervals.measured_s.sum() / intervals.commanded_s.sum())
    return figures


def schedule_residuals(times: FrameTimes, schedule: Schedule) -> tuple[np.ndarray, float]:
    """How far each frame is from its commanded time (s), and the camera clock's rate (camera
    s per board s) fitted to the frames that follow the schedule.

    The fit starts from the first volume (a run starts aligned: the camera is armed before the
    board plays) and grows over the frames within a quarter interval of it, so a slow clock
    drift is followed while a slip (a missed trigger that shifts every later frame, a stall)
    stands out instead of bending the fit.
    """
    commanded = schedule.commanded_time_s(times.ids)
    tolerance = _INLIER_FRACTION * schedule.frame_interval_s
    first = max(schedule.frames_per_period, 3)
    offset, rate = float(np.median((times.camera_ts - commanded)[:first])), 1.0
    inliers = np.zeros(times.count, dtype=bool)
    for _ in range(_FIT_ROUNDS):
        residual = times.camera_ts - (offset + rate * commanded)
        grown = np.abs(residual) < tolerance
        if grown.sum() < 2 or np.array_equal(grown, inliers):
            break
        inliers = grown
        if np.ptp(commanded[inliers]) > 0:
            rate, offset = np.polyfit(commanded[inliers], times.camera_ts[inliers], 1)
        else:
            offset = float(np.mean(times.camera_ts[inliers] - commanded[inliers]))
    return times.camera_ts - (offset + rate * commanded), float(rate)


def lateness_figures(times: FrameTimes, schedule: Schedule) -> tuple[dict[str, Any], np.ndarray]:
    """Frames late or early by more than a tenth of an interval, and the fitted residuals."""
    residual, rate = schedule_residuals(times, schedule)
    threshold = LATE_FRACTION * schedule.frame_interval_s
    late, early = residual > threshold, residual < -threshold
    figures: dict[str, Any] = {
        "threshold_ms": _ms(threshold),
        "late_frames": int(late.sum()),
        "early_frames": int(early.sum()),
        "worst_late_ms": _ms(max(float(residual.max()), 0.0)),
        "worst_early_ms": _ms(min(float(residual.min()), 0.0)),
        "residual_std_us": float(residual.std() * 1e6),
        "camera_vs_board_ppm": float((rate - 1.0) * 1e6),
    }
    off = np.flatnonzero(late | early)
    figures["first_off_frame_id"] = int(times.ids[off[0]]) if off.size else None
    return figures, residual


def clock_drift(times: FrameTimes) -> dict[str, Any]:
    """The camera clock's rate against the host clock, in ppm, with its standard error.

    The host reads each frame some time after it was taken, and that delay grows whenever the
    host is busy; its lower envelope (the promptest frame of each stretch of the run) is what
    both clocks agree on, so the rate is fitted to those frames only.
    """
    none = {"drift_ppm": None, "uncertainty_ppm": None, "span_s": None, "read_lag_max_ms": None}
    usable = np.isfinite(times.host_ts)
    if usable.sum() < 3 * _DRIFT_MIN_PER_BIN:
        return none
    host = times.host_ts[usable] - times.host_ts[usable][0]
    camera = times.camera_ts[usable] - times.camera_ts[usable][0]
    span = float(np.ptp(host))
    if span <= 0:
        return {**none, "span_s": span}
    bins = min(_DRIFT_BINS, len(host) // _DRIFT_MIN_PER_BIN)
    prompt = [int(part[np.argmin(host[part] - camera[part])])
              for part in np.array_split(np.arange(len(host)), bins)]
    x, y = host[prompt], camera[prompt]
    # Theil-Sen: the median of pairwise slopes, so a stretch where the host lagged throughout
    # (the first frames of a run, a busy moment) does not tilt the line.
    i, j = np.triu_indices(len(x), k=1)
    keep = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[keep] / (x[j] - x[i])[keep]))
    residual = y - slope * x
    residual -= np.median(residual)
    spread = 1.4826 * float(np.median(np.abs(residual)))  # robust standard deviation
    stderr = spread / float(np.sqrt(np.sum((x - x.mean()) ** 2)))
    lag = (host - camera) - np.min(host - camera)
    figures: dict[str, float | None] = {
        "drift_ppm": (slope - 1.0) * 1e6,
        "uncertainty_ppm": stderr * 1e6,
        "span_s": span,
        "read_lag_max_ms": float(lag.max() * 1e3),
    }
    if abs((slope - 1.0) * 1e6) > PLAUSIBLE_DRIFT_PPM:
        # No clock drifts this much: the host fell behind reading frames (their time is the
        # camera's, so the data are not affected, but the drift cannot be measured).
        figures.update(drift_ppm=None, uncertainty_ppm=None)
    return figures


def volume_period(times: FrameTimes, planes: int, schedule: Schedule | None) -> dict[str, Any]:
    """Time between the same plane of consecutive volumes, against the commanded period."""
    commanded = None if schedule is None else schedule.period_s
    figures: dict[str, Any] = {"commanded_s": commanded, "count": 0}
    if planes < 2 or times.count < 2:
        return figures
    position = np.searchsorted(times.ids, times.ids + planes)
    found = position < times.count
    found[found] = times.ids[position[found]] == times.ids[found] + planes
    periods = times.camera_ts[position[found]] - times.camera_ts[found]
    if periods.size:
        figures.update(
            count=int(periods.size), measured_s=float(periods.mean()), std_s=float(periods.std())
        )
    return figures


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else float(seconds) * 1e3

"""Exposure windows against the laser blanking the board played.

Each exposure is placed on the played period where its trigger was, moved by the camera's own
timing: its offset from the fitted schedule (jitter) and, when the planes show it, a constant
delay between trigger and exposure estimated from the z they were imaged at. The share of the
window during which the laser line was on is what lit the plane.
"""

from __future__ import annotations

import numpy as np

from lightsheet.analysis.schedule import Schedule

#: A laser line above this share of its highest level counts as on.
LASER_ON_LEVEL = 0.5
_SIGNIFICANT_SPREADS = 3.0  # a delay is only believed beyond this many standard errors


def lit_shares(
    schedule: Schedule, planes: np.ndarray, offsets_s: np.ndarray, exposure_s: float
) -> np.ndarray:
    """The share (0..1) of each exposure of ``planes`` starting ``offsets_s`` after its trigger
    during which the laser was on; NaN without a laser channel or a positive exposure."""
    planes = np.asarray(planes, dtype=np.int64)
    if schedule.laser_blanking_v is None or not exposure_s > 0:
        return np.full(planes.shape, np.nan)
    laser = schedule.laser_blanking_v
    high = float(laser.max()) if laser.size else 0.0
    on = (laser > LASER_ON_LEVEL * high).astype(np.float64) if high > 0 else np.zeros(laser.size)
    rate = schedule.sample_rate_hz
    start = schedule.trigger_samples[planes] + np.asarray(offsets_s) * rate
    length = exposure_s * rate
    lit = _integral(on, start + length) - _integral(on, start)
    return np.clip(lit / length, 0.0, 1.0)


def window_mean(values: np.ndarray, start: np.ndarray, length: float) -> np.ndarray:
    """Mean of a periodic sample-and-hold signal over windows [start, start + length) samples."""
    return (_integral(values, start + length) - _integral(values, start)) / length


def delay_from_z(
    schedule: Schedule,
    planes: np.ndarray,
    measured_um: np.ndarray,
    exposure_s: float,
    resolution_um: float,
) -> dict[str, float | int | None]:
    """The trigger-to-exposure delay that would put each plane at the z it was imaged at.

    On the ramp a late exposure images a z further along it, so the delay that best explains
    the measured z is searched within two plane intervals either way; the median over planes is
    returned with its standard error. It is reported as ``significant`` only beyond three
    standard errors and beyond the z resolution, so noise never reads as a late camera. A z
    offset from a wrong calibration looks the same: the figure assumes timing is the cause.
    """
    none: dict[str, float | int | None] = {
        "delay_ms": None, "uncertainty_ms": None, "planes": 0, "significant": False
    }
    if schedule.plane_spacing_um is None or not exposure_s > 0:
        return none
    rate = schedule.sample_rate_hz
    length = exposure_s * rate
    reach = 2 * schedule.frame_interval_s * rate
    shifts = np.arange(-reach, reach + 0.25, 0.25)  # quarter samples
    delays = []
    for plane, z_um in zip(planes, measured_um, strict=True):
        if not np.isfinite(z_um):
            continue
        z_at = window_mean(schedule.sheet_z_um, schedule.trigger_samples[plane] + shifts, length)
        mismatch = np.abs(z_at - z_um) + 1e-9 * np.abs(shifts)  # ties: the smallest delay
        best = int(np.argmin(mismatch))
        if mismatch[best] <= resolution_um:
            delays.append(shifts[best] / rate)
    if len(delays) < 3:
        return {**none, "planes": len(delays)}
    delays_s = np.asarray(delays)
    delay = float(np.median(delays_s))
    spread = float(1.2533 * delays_s.std() / np.sqrt(len(delays_s)))
    shift_um = abs(delay) * _ramp_speed(schedule)
    significant = abs(delay) > _SIGNIFICANT_SPREADS * spread and shift_um > resolution_um
    return {
        "delay_ms": delay * 1e3,
        "uncertainty_ms": spread * 1e3,
        "planes": len(delays_s),
        "significant": bool(significant),
    }


def _ramp_speed(schedule: Schedule) -> float:
    """How fast the sheet moves between planes (µm/s)."""
    spacing = schedule.plane_spacing_um or 0.0
    return spacing / schedule.frame_interval_s


def _integral(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Integral from 0 to x (in samples) of a periodic signal that holds each sample."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    prefix = np.concatenate(([0.0], np.cumsum(values)))
    cycles, rest = np.divmod(np.asarray(x, dtype=np.float64), n)
    index = np.minimum(rest.astype(np.int64), n - 1)
    return cycles * prefix[n] + prefix[index] + (rest - index) * values[index]

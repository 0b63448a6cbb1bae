"""Linear z-galvo calibration fitted to points the operator collected in calibration mode.

At each of several piezo positions the operator moves the z-galvo until the sheet is in focus;
a straight line through those points lets the galvo follow the piezo during a volume scan. The
fit's quality is reported so a bad point (a mis-focused bead, a typo) is noticed before a scan
relies on it. Writing the result into the config is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class CalibrationError(ValueError):
    """The points do not determine a line."""


@dataclass(frozen=True)
class CalibrationPoint:
    """Galvo voltage that focused the sheet with the piezo at ``piezo_um``."""

    piezo_um: float
    galvo_v: float


@dataclass(frozen=True)
class CalibrationFit:
    """``galvo_v = slope * z_um + offset`` with its residuals (volts) over the fitted points."""

    slope: float
    offset: float
    r_squared: float
    rms_residual_v: float
    max_residual_v: float
    points: tuple[CalibrationPoint, ...]

    def apply(self, z_um: float | np.ndarray) -> float | np.ndarray:
        """Galvo voltage that puts the sheet at ``z_um``."""
        result = self.slope * np.asarray(z_um, dtype=np.float64) + self.offset
        return float(result) if result.ndim == 0 else result

    def describe(self) -> str:
        """One line for the log and the GUI."""
        return (
            f"galvo_v = {self.slope:.6g} V/µm * z + {self.offset:.6g} V from "
            f"{len(self.points)} points: R² = {self.r_squared:.6f}, "
            f"RMS residual {self.rms_residual_v * 1e3:.3g} mV, "
            f"max residual {self.max_residual_v * 1e3:.3g} mV"
        )


def fit_calibration(points: Sequence[CalibrationPoint]) -> CalibrationFit:
    """Least-squares line through the points; needs two or more distinct piezo positions."""
    points = tuple(points)
    z = np.array([p.piezo_um for p in points], dtype=np.float64)
    v = np.array([p.galvo_v for p in points], dtype=np.float64)
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(v))):
        raise CalibrationError("calibration points must be finite numbers")
    distinct = np.unique(z).size
    if distinct < 2:
        raise CalibrationError(
            f"calibration needs at least 2 points at distinct piezo positions; got "
            f"{len(points)} point(s) at {distinct} position(s)"
        )
    design = np.column_stack([z, np.ones_like(z)])
    (slope, offset), *_ = np.linalg.lstsq(design, v, rcond=None)
    residuals = v - (slope * z + offset)
    ss_res = float(np.sum(residuals**2))
    ss_tot = float(np.sum((v - v.mean()) ** 2))
    # Identical galvo voltages (a galvo left unused) lie exactly on the flat line fitted to them.
    r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return CalibrationFit(
        slope=float(slope),
        offset=float(offset),
        r_squared=r_squared,
        rms_residual_v=math.sqrt(ss_res / len(points)),
        max_residual_v=float(np.max(np.abs(residuals))),
        points=points,
    )

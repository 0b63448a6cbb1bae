"""The schedule a run commanded, from the one period of waveforms stored under ``/waveforms``.

The board plays that period over and over from the first frame of the run (the camera is armed
first and the board starts from sample 0), so frame ``f`` was commanded at
``(f // P) * period + trigger_samples[f % P] / rate`` on the board's clock, with ``P`` triggers
per period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """One commanded period: where the camera is triggered, what z each plane has, when the
    laser is on. Times are seconds from the start of the period."""

    mode: str
    sample_rate_hz: float
    n_samples: int
    trigger_samples: np.ndarray  # int64, one per imaged plane
    plane_z_um: np.ndarray  # sheet z averaged over each commanded exposure
    sheet_z_um: np.ndarray  # sheet z, sample by sample
    laser_blanking_v: np.ndarray | None
    exposure_samples: int

    @property
    def frames_per_period(self) -> int:
        return len(self.trigger_samples)

    @property
    def period_s(self) -> float:
        return self.n_samples / self.sample_rate_hz

    @property
    def frame_interval_s(self) -> float:
        """The commanded time between two planes of a sweep (a planar run: between frames)."""
        if self.frames_per_period < 2:
            return self.period_s
        return float(np.median(np.diff(self.trigger_samples))) / self.sample_rate_hz

    @property
    def plane_spacing_um(self) -> float | None:
        """Distance between neighbouring planes; None for a single plane."""
        if len(self.plane_z_um) < 2:
            return None
        return float(np.median(np.abs(np.diff(self.plane_z_um))))

    def commanded_time_s(self, frame_ids: np.ndarray) -> np.ndarray:
        """When the board triggered each frame, seconds after the run's first trigger."""
        ids = np.asarray(frame_ids, dtype=np.int64)
        period, plane = np.divmod(ids, self.frames_per_period)
        samples = self.trigger_samples[plane] - self.trigger_samples[0]
        return period * self.period_s + samples / self.sample_rate_hz

    def plane_of(self, frame_ids: np.ndarray) -> np.ndarray:
        return np.asarray(frame_ids, dtype=np.int64) % self.frames_per_period


def schedule_from_waveforms(record: Mapping[str, Any]) -> Schedule:
    """The schedule of a ``/waveforms`` record; ValueError names what is missing or wrong."""
    try:
        channels = record["channels"]
        rate = float(record["sample_rate_hz"])
        triggers = np.asarray(record["trigger_samples"], dtype=np.int64).reshape(-1)
        plane_z = np.asarray(record["plane_z_um"], dtype=np.float64).reshape(-1)
        sheet_z = np.asarray(record["sheet_z_um"], dtype=np.float64).reshape(-1)
        exposure = int(record["exposure_samples"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"/waveforms is incomplete ({exc})") from None
    n_samples = int(record.get("n_samples", len(sheet_z)))
    if not rate > 0 or n_samples < 1 or len(sheet_z) != n_samples:
        raise ValueError(f"/waveforms: {n_samples} samples at {rate} Hz do not make a period")
    if triggers.size == 0 or len(plane_z) != triggers.size:
        raise ValueError("/waveforms: no camera trigger, or not one z per trigger")
    if np.any(np.diff(triggers) <= 0) or triggers[0] < 0 or triggers[-1] >= n_samples:
        raise ValueError("/waveforms: trigger samples are not increasing inside the period")
    laser = channels.get("laser_blanking") if isinstance(channels, Mapping) else None
    mode = record.get("mode", "volumetric")
    return Schedule(
        mode=mode.decode() if isinstance(mode, bytes) else str(mode),
        sample_rate_hz=rate,
        n_samples=n_samples,
        trigger_samples=triggers,
        plane_z_um=plane_z,
        sheet_z_um=sheet_z,
        laser_blanking_v=None if laser is None else np.asarray(laser, dtype=np.float64),
        exposure_samples=max(exposure, 1),
    )

"""The ``scanning`` section: z range, planes, rates, the lateral sweep and the calibration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lightsheet.config.base import ConfigModel
from lightsheet.config.pydantic_issues import field_error


class CalibrationPoint(ConfigModel):
    piezo_um: float = Field(description="Piezo position (micrometres).")
    galvo_v: float = Field(description="z galvo voltage that put the sheet in focus there (V).")


class CalibrationConfig(ConfigModel):
    z_galvo_slope_v_per_um: float = Field(
        0.02, description="z galvo volts per micrometre of piezo travel."
    )
    z_galvo_offset_v: float = Field(-2.0, description="z galvo voltage at piezo position 0 (V).")
    points: list[CalibrationPoint] = Field(
        default_factory=list,
        description="Measured in-focus pairs; slope and offset are fitted to them.",
    )


class ScanningConfig(ConfigModel):
    mode: Literal["volumetric", "planar"] = Field(
        "volumetric",
        description="volumetric: sweep z and take n_planes per volume; planar: a single plane "
        "at planar_z_um.",
    )
    z_start_um: float = Field(0.0, description="Piezo position of the first plane (micrometres).")
    z_end_um: float = Field(200.0, description="Piezo position of the last plane (micrometres).")
    n_planes: int = Field(40, ge=1, le=2000, description="Planes per volume.")
    volume_rate_hz: float = Field(2.0, ge=0.01, le=100, description="Volumes per second.")
    skip_planes_start: int = Field(
        0, ge=0, description="Planes at the start of each sweep that are acquired but not saved."
    )
    skip_planes_end: int = Field(
        0, ge=0, description="Planes at the end of each sweep that are acquired but not saved."
    )
    flyback_fraction: float = Field(
        0.1, ge=0.01, le=0.5, description="Part of each volume period spent returning to z_start."
    )
    lateral_frequency_hz: float = Field(
        800.0, gt=0, description="Frequency of the lateral galvo sweep that forms the sheet (Hz)."
    )
    lateral_amplitude_v: float = Field(
        1.0, ge=0, description="Amplitude of the lateral galvo sweep around 0 V (V)."
    )
    planar_z_um: float = Field(
        100.0, description="Piezo position of the plane in planar mode (micrometres)."
    )
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig,
        description="z galvo voltage = slope x piezo position + offset keeps the sheet in focus.",
    )

    @model_validator(mode="after")
    def _sweep_is_usable(self) -> ScanningConfig:
        if self.z_end_um == self.z_start_um:
            raise field_error("z_end_um", f"must differ from z_start_um (both {self.z_end_um:g})")
        skipped = self.skip_planes_start + self.skip_planes_end
        if skipped >= self.n_planes:
            raise field_error(
                "skip_planes_end" if self.skip_planes_end else "skip_planes_start",
                f"skip_planes_start + skip_planes_end ({skipped}) must be less than "
                f"n_planes ({self.n_planes})",
            )
        return self

    def z_positions_um(self) -> list[float]:
        """Piezo position of every plane of a volume, z_start_um to z_end_um evenly spaced."""
        if self.n_planes == 1:
            return [self.z_start_um]
        step = (self.z_end_um - self.z_start_um) / (self.n_planes - 1)
        return [self.z_start_um + index * step for index in range(self.n_planes)]

    def imaged_z_um(self, mode: str) -> list[float]:
        """The z of each plane imaged in ``mode`` (planar: one; skipped planes are not imaged)."""
        if mode == "planar":
            return [self.planar_z_um]
        planes = self.z_positions_um()
        return planes[self.skip_planes_start : len(planes) - self.skip_planes_end]

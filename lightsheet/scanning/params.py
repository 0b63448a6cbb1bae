"""What a scan needs to know, as plain frozen dataclasses that pickle to the scanner process.

The builders in :mod:`lightsheet.scanning.waveforms` take these instead of the config models so
that tests and callers can describe a scan without a YAML file, and so that every value is
validated once, with a message an operator can act on, before any sample is computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lightsheet.hardware.daq.limits import ChannelLimits

#: Analog output channels every waveform set drives, in the order a DAQ writer stacks them.
CHANNELS: tuple[str, ...] = (
    "piezo",
    "z_galvo",
    "lateral_galvo",
    "laser_blanking",
    "camera_trigger",
)

#: Logic level of the camera trigger and of the laser blanking line when active.
TTL_HIGH_V = 5.0

MODES: tuple[str, ...] = ("volumetric", "planar")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class ScanRig:
    """The rig's fixed output side: how fast samples play, what each channel may do, and how
    micrometres of focus become volts on the piezo and on the z-galvo."""

    sample_rate_hz: float
    limits: Mapping[str, ChannelLimits]
    piezo_um_per_v: float
    z_galvo_slope_v_per_um: float
    z_galvo_offset_v: float

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.sample_rate_hz) and self.sample_rate_hz > 0,
            f"sample rate must be positive, got {self.sample_rate_hz} Hz",
        )
        _require(
            math.isfinite(self.piezo_um_per_v) and self.piezo_um_per_v != 0,
            f"piezo scale must be a non-zero number of µm per volt, got {self.piezo_um_per_v}",
        )
        _require(
            math.isfinite(self.z_galvo_slope_v_per_um) and math.isfinite(self.z_galvo_offset_v),
            "z-galvo calibration slope and offset must be finite numbers",
        )
        missing = [name for name in CHANNELS if name not in self.limits]
        _require(not missing, f"no limits configured for channel(s): {', '.join(missing)}")

    def piezo_volts(self, z_um: np.ndarray | float) -> np.ndarray:
        """Piezo command for a focus position."""
        return np.asarray(z_um, dtype=np.float64) / self.piezo_um_per_v

    def z_galvo_volts(self, z_um: np.ndarray | float) -> np.ndarray:
        """Z-galvo command that puts the light sheet at ``z_um`` (the linear calibration)."""
        return self.z_galvo_slope_v_per_um * np.asarray(z_um, dtype=np.float64) + (
            self.z_galvo_offset_v
        )


@dataclass(frozen=True)
class LateralSweep:
    """Triangle on the lateral galvo that sweeps the sheet sideways to even out shadows.

    A frequency of 0 holds the galvo at 0 V.
    """

    frequency_hz: float = 0.0
    amplitude_v: float = 0.0

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.frequency_hz) and self.frequency_hz >= 0,
            f"lateral frequency must be zero or positive, got {self.frequency_hz} Hz",
        )
        _require(
            math.isfinite(self.amplitude_v) and self.amplitude_v >= 0,
            f"lateral amplitude must be zero or positive, got {self.amplitude_v} V",
        )


def _check_exposure(exposure_ms: float, trigger_width_ms: float | None) -> None:
    _require(
        math.isfinite(exposure_ms) and exposure_ms > 0,
        f"exposure must be positive, got {exposure_ms} ms",
    )
    _require(
        trigger_width_ms is None or (math.isfinite(trigger_width_ms) and trigger_width_ms > 0),
        f"trigger pulse width must be positive, got {trigger_width_ms} ms",
    )


@dataclass(frozen=True)
class VolumetricParams:
    """A sawtooth volume scan: ``n_planes`` evenly spaced planes over the piezo ramp.

    ``skip_planes_start``/``skip_planes_end`` planes at the ends of the ramp are swept but not
    imaged (no trigger, laser blanked), giving the piezo time to settle after the flyback.
    ``trigger_width_ms`` None means 1 ms or a tenth of the plane period, whichever is shorter.
    """

    rig: ScanRig
    z_start_um: float
    z_end_um: float
    n_planes: int
    volume_rate_hz: float
    exposure_ms: float
    skip_planes_start: int = 0
    skip_planes_end: int = 0
    flyback_fraction: float = 0.2
    lateral: LateralSweep = field(default_factory=LateralSweep)
    trigger_width_ms: float | None = None

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.z_start_um) and math.isfinite(self.z_end_um),
            "z start and end must be finite numbers of µm",
        )
        _require(self.n_planes >= 1, f"a volume needs at least 1 plane, got {self.n_planes}")
        _require(
            math.isfinite(self.volume_rate_hz) and self.volume_rate_hz > 0,
            f"volume rate must be positive, got {self.volume_rate_hz} Hz",
        )
        _require(
            self.skip_planes_start >= 0 and self.skip_planes_end >= 0,
            "skipped planes must be zero or more",
        )
        _require(
            self.skip_planes_start + self.skip_planes_end < self.n_planes,
            f"skipping {self.skip_planes_start} + {self.skip_planes_end} planes of "
            f"{self.n_planes} leaves none to image",
        )
        _require(
            0 < self.flyback_fraction < 1,
            f"flyback fraction must be between 0 and 1 (exclusive), got {self.flyback_fraction}",
        )
        _check_exposure(self.exposure_ms, self.trigger_width_ms)

    @property
    def n_imaged_planes(self) -> int:
        """Planes that get a camera trigger in every volume."""
        return self.n_planes - self.skip_planes_start - self.skip_planes_end


@dataclass(frozen=True)
class PlanarParams:
    """One plane imaged repeatedly: piezo and sheet held at ``z_um``.

    The frame rate is ``frame_rate_hz`` when given, else ``1 / (exposure + frame_margin_ms)``,
    the margin leaving the camera time to read out between exposures.
    """

    rig: ScanRig
    z_um: float
    exposure_ms: float
    frame_rate_hz: float | None = None
    frame_margin_ms: float = 1.0
    lateral: LateralSweep = field(default_factory=LateralSweep)
    trigger_width_ms: float | None = None

    def __post_init__(self) -> None:
        _require(math.isfinite(self.z_um), f"planar z must be a finite number, got {self.z_um}")
        _check_exposure(self.exposure_ms, self.trigger_width_ms)
        _require(
            self.frame_rate_hz is None
            or (math.isfinite(self.frame_rate_hz) and self.frame_rate_hz > 0),
            f"frame rate must be positive, got {self.frame_rate_hz} Hz",
        )
        _require(
            math.isfinite(self.frame_margin_ms) and self.frame_margin_ms >= 0,
            f"frame margin must be zero or positive, got {self.frame_margin_ms} ms",
        )


def channel_limits_from_config(config: Any) -> dict[str, ChannelLimits]:
    """Limits of every scan channel from ``config.daq.channels.<name>``."""
    limits = {}
    for name in CHANNELS:
        channel = getattr(config.daq.channels, name)
        limits[name] = ChannelLimits(
            min_v=float(channel.min_v),
            max_v=float(channel.max_v),
            max_step_v=float(channel.max_step_v),
            safe_v=float(channel.safe_v),
        )
    return limits


def scan_rig_from_config(config: Any) -> ScanRig:
    """The rig's output side from ``config.daq`` and the z-galvo calibration."""
    calibration = config.scanning.calibration
    return ScanRig(
        sample_rate_hz=float(config.daq.sample_rate_hz),
        limits=channel_limits_from_config(config),
        piezo_um_per_v=float(config.daq.piezo_um_per_v),
        z_galvo_slope_v_per_um=float(calibration.z_galvo_slope_v_per_um),
        z_galvo_offset_v=float(calibration.z_galvo_offset_v),
    )


def scan_params_from_config(
    config: Any,
    *,
    mode: str | None = None,
    frame_rate_hz: float | None = None,
    frame_margin_ms: float = 1.0,
    trigger_width_ms: float | None = None,
) -> VolumetricParams | PlanarParams:
    """Parameters of the scan ``mode`` (``config.scanning.mode`` unless overridden, as the
    command line's ``--mode`` does). ``frame_rate_hz`` and ``frame_margin_ms`` apply to planar."""
    scanning = config.scanning
    mode = scanning.mode if mode is None else mode
    rig = scan_rig_from_config(config)
    lateral = LateralSweep(
        frequency_hz=float(scanning.lateral_frequency_hz),
        amplitude_v=float(scanning.lateral_amplitude_v),
    )
    exposure_ms = float(config.camera.exposure_ms)
    if mode == "volumetric":
        return VolumetricParams(
            rig=rig,
            z_start_um=float(scanning.z_start_um),
            z_end_um=float(scanning.z_end_um),
            n_planes=int(scanning.n_planes),
            volume_rate_hz=float(scanning.volume_rate_hz),
            exposure_ms=exposure_ms,
            skip_planes_start=int(scanning.skip_planes_start),
            skip_planes_end=int(scanning.skip_planes_end),
            flyback_fraction=float(scanning.flyback_fraction),
            lateral=lateral,
            trigger_width_ms=trigger_width_ms,
        )
    if mode == "planar":
        return PlanarParams(
            rig=rig,
            z_um=float(scanning.planar_z_um),
            exposure_ms=exposure_ms,
            frame_rate_hz=frame_rate_hz,
            frame_margin_ms=frame_margin_ms,
            lateral=lateral,
            trigger_width_ms=trigger_width_ms,
        )
    raise ValueError(f"scanning mode {mode!r} plays no waveforms; expected one of {MODES}")

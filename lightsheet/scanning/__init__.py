"""Scan waveforms and galvo calibration, in pure numpy so they run and test without a board."""

from lightsheet.scanning.calibration import (
    CalibrationError,
    CalibrationFit,
    CalibrationPoint,
    fit_calibration,
)
from lightsheet.scanning.params import (
    CHANNELS,
    TTL_HIGH_V,
    LateralSweep,
    PlanarParams,
    ScanRig,
    VolumetricParams,
    channel_limits_from_config,
    scan_params_from_config,
    scan_rig_from_config,
)
from lightsheet.scanning.waveforms import (
    WaveformSet,
    build_waveforms,
    planar_waveforms,
    static_outputs,
    volumetric_waveforms,
)

__all__ = [
    "CHANNELS",
    "TTL_HIGH_V",
    "CalibrationError",
    "CalibrationFit",
    "CalibrationPoint",
    "LateralSweep",
    "PlanarParams",
    "ScanRig",
    "VolumetricParams",
    "WaveformSet",
    "build_waveforms",
    "channel_limits_from_config",
    "fit_calibration",
    "planar_waveforms",
    "scan_params_from_config",
    "scan_rig_from_config",
    "static_outputs",
    "volumetric_waveforms",
]

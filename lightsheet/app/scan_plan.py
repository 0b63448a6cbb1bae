"""The waveforms a rig config asks for, checked in the main process before any process gets them.

A refused waveform (a limit, an exposure that does not fit the plane period) is bad input, not a
fault: the Session raises ``ScanConfigError`` and nothing reaches the board.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lightsheet.hardware.daq.limits import WaveformLimitError
from lightsheet.hardware.daq.protocol import DaqSettings
from lightsheet.scanning.params import scan_params_from_config
from lightsheet.scanning.waveforms import WaveformSet, build_waveforms, static_outputs

SCAN_MODES = ("planar", "volumetric")


class ScanConfigError(ValueError):
    """The config's scan cannot be played on its rig; the message names what and why."""


def scan_waveforms(
    config: Any, mode: str, piezo_readback_um: np.ndarray | None = None
) -> WaveformSet:
    """One checked period of every output for ``mode`` (planar or volumetric); with a measured
    period of the piezo, the z-galvo follows where the piezo really is (feed-forward)."""
    if mode not in SCAN_MODES:
        raise ScanConfigError(f"scanning mode {mode!r}: expected planar or volumetric")
    # Planar: the camera needs its readout time between two exposures.
    margin_ms = max(float(config.camera.readout_ms), 1.0)
    try:
        params = scan_params_from_config(config, mode=mode, frame_margin_ms=margin_ms)
        return build_waveforms(params, piezo_readback_um)
    except (WaveformLimitError, ValueError) as exc:
        raise ScanConfigError(f"{mode} scan refused: {exc}") from None


def calibration_outputs(config: Any, galvo_v: float, piezo_um: float) -> dict[str, float]:
    """Checked DC outputs for calibration mode (piezo and z-galvo where the operator puts them)."""
    settings = DaqSettings.from_config(config.daq)
    try:
        return static_outputs(
            piezo_um, galvo_v, settings.limits, piezo_um_per_v=settings.piezo_um_per_v
        )
    except (WaveformLimitError, ValueError) as exc:
        raise ScanConfigError(f"calibration outputs refused: {exc}") from None


def measuring_period(ws: WaveformSet) -> dict[str, np.ndarray]:
    """The scan's period with the camera trigger low and the laser blanked: plays the piezo to
    measure it, exposing nothing."""
    channels = dict(ws.channels)
    channels["camera_trigger"] = np.zeros_like(channels["camera_trigger"])
    channels["laser_blanking"] = np.zeros_like(channels["laser_blanking"])
    return channels


def waveform_record(ws: WaveformSet, config: Any, mode: str) -> dict[str, Any]:
    """What is stored under ``/waveforms`` of a run: samples, rate and the channel map."""
    settings = DaqSettings.from_config(config.daq)
    return {
        "mode": mode,
        "sample_rate_hz": float(ws.sample_rate_hz),
        "n_samples": int(ws.n_samples),
        "frame_rate_hz": float(ws.actual_frame_rate_hz),
        "volume_rate_hz": float(ws.actual_volume_rate_hz or 0.0),
        "exposure_samples": int(ws.exposure_samples),
        "camera_trigger_kind": settings.camera_trigger_kind,
        "channels": {name: np.asarray(samples) for name, samples in ws.channels.items()},
        "channel_map": {name: out.physical for name, out in settings.outputs.items()},
        "trigger_samples": np.asarray(ws.trigger_samples),
        "plane_index": np.asarray(ws.plane_index),
        "plane_z_um": np.asarray(ws.plane_z_um),
        "sheet_z_um": np.asarray(ws.sheet_z_um),
    }

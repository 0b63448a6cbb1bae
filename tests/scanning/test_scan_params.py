"""Scan parameters from the rig config, and values an operator could mistype refused early."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from lightsheet.hardware.daq.limits import ChannelLimits
from lightsheet.scanning import (
    CHANNELS,
    LateralSweep,
    PlanarParams,
    ScanRig,
    VolumetricParams,
    build_waveforms,
    scan_params_from_config,
)


def _channel(min_v: float, max_v: float, max_step_v: float, safe_v: float = 0.0) -> NS:
    return NS(physical="Dev1/ao0", min_v=min_v, max_v=max_v, max_step_v=max_step_v, safe_v=safe_v)


def _config(mode: str = "volumetric") -> NS:
    """Shaped like the config models: only the attributes the scanning layer reads."""
    return NS(
        daq=NS(
            sample_rate_hz=50_000,
            piezo_um_per_v=20.0,
            channels=NS(
                piezo=_channel(0.0, 10.0, 0.05, safe_v=2.5),
                z_galvo=_channel(-5.0, 5.0, 0.05),
                lateral_galvo=_channel(-3.0, 3.0, 0.5),
                laser_blanking=_channel(0.0, 5.0, 5.0),
                camera_trigger=_channel(0.0, 5.0, 5.0),
            ),
        ),
        scanning=NS(
            mode=mode,
            z_start_um=20.0,
            z_end_um=120.0,
            n_planes=50,
            volume_rate_hz=1.5,
            skip_planes_start=3,
            skip_planes_end=2,
            flyback_fraction=0.25,
            lateral_frequency_hz=800.0,
            lateral_amplitude_v=0.6,
            planar_z_um=60.0,
            calibration=NS(
                z_galvo_slope_v_per_um=0.01,
                z_galvo_offset_v=-0.3,
                points=[NS(piezo_um=0.0, galvo_v=-0.3), NS(piezo_um=100.0, galvo_v=0.7)],
            ),
        ),
        camera=NS(exposure_ms=8.0),
    )


def test_volumetric_params_from_config():
    params = scan_params_from_config(_config())
    assert isinstance(params, VolumetricParams)
    assert (params.z_start_um, params.z_end_um, params.n_planes) == (20.0, 120.0, 50)
    assert (params.skip_planes_start, params.skip_planes_end) == (3, 2)
    assert params.n_imaged_planes == 45
    assert params.exposure_ms == 8.0
    assert params.lateral == LateralSweep(800.0, 0.6)
    assert params.rig.sample_rate_hz == 50_000.0
    assert params.rig.limits["piezo"] == ChannelLimits(0.0, 10.0, 0.05, safe_v=2.5)
    assert set(params.rig.limits) == set(CHANNELS)
    assert params.rig.z_galvo_volts(100.0) == pytest.approx(0.7)
    assert params.rig.piezo_volts(100.0) == pytest.approx(5.0)
    assert build_waveforms(params).frames_per_period == 45


def test_mode_override_gives_planar_params():
    params = scan_params_from_config(_config(), mode="planar", frame_rate_hz=40.0)
    assert isinstance(params, PlanarParams)
    assert params.z_um == 60.0
    assert build_waveforms(params).actual_frame_rate_hz == pytest.approx(40.0)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="'calibration' plays no waveforms"):
        scan_params_from_config(_config(mode="calibration"))


def _rig(**overrides) -> ScanRig:
    values = dict(
        sample_rate_hz=50_000.0,
        limits={name: ChannelLimits(-10.0, 10.0, 10.0) for name in CHANNELS},
        piezo_um_per_v=10.0,
        z_galvo_slope_v_per_um=0.01,
        z_galvo_offset_v=0.0,
    )
    values.update(overrides)
    return ScanRig(**values)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_planes": 0}, "at least 1 plane"),
        ({"skip_planes_start": 6, "skip_planes_end": 4}, "leaves none to image"),
        ({"flyback_fraction": 0.0}, "flyback fraction must be between 0 and 1"),
        ({"volume_rate_hz": 0.0}, "volume rate must be positive"),
        ({"exposure_ms": -1.0}, "exposure must be positive"),
    ],
)
def test_nonsense_volumes_are_refused(overrides, message):
    values = dict(
        rig=_rig(),
        z_start_um=0.0,
        z_end_um=50.0,
        n_planes=10,
        volume_rate_hz=2.0,
        exposure_ms=5.0,
    )
    values.update(overrides)
    with pytest.raises(ValueError, match=message):
        VolumetricParams(**values)


def test_a_rig_without_limits_for_a_channel_is_refused():
    limits = {name: ChannelLimits(-10.0, 10.0, 10.0) for name in CHANNELS if name != "z_galvo"}
    with pytest.raises(ValueError, match=r"no limits configured for channel.*z_galvo"):
        _rig(limits=limits)


def test_a_volume_rate_too_high_for_the_sample_rate_is_refused():
    params = VolumetricParams(
        rig=_rig(),
        z_start_um=0.0,
        z_end_um=1.0,
        n_planes=100,
        volume_rate_hz=400.0,
        exposure_ms=0.01,
    )
    with pytest.raises(ValueError, match="fewer than 2 samples per plane"):
        build_waveforms(params)

"""Planar waveforms: a still sheet, one trigger per frame, laser on only during the exposure."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.scanning import (
    TTL_HIGH_V,
    LateralSweep,
    PlanarParams,
    ScanRig,
    VolumetricParams,
    build_waveforms,
    planar_waveforms,
)
from tests.scanning.channel_limits import LIMITS

FS = 50_000.0
UM_PER_V = 8.0
SLOPE, OFFSET = -0.015, 0.25


def _rig() -> ScanRig:
    return ScanRig(FS, LIMITS, UM_PER_V, SLOPE, OFFSET)


def test_piezo_and_sheet_are_held_at_the_planar_z():
    w = planar_waveforms(PlanarParams(rig=_rig(), z_um=42.0, exposure_ms=10.0))
    np.testing.assert_array_equal(w.channels["piezo"], np.full(w.n_samples, 42.0 / UM_PER_V))
    np.testing.assert_allclose(w.channels["z_galvo"], SLOPE * 42.0 + OFFSET)
    np.testing.assert_array_equal(w.plane_z_um, [42.0])
    assert w.z_at(0.0123) == 42.0
    assert w.actual_volume_rate_hz is None


def test_default_frame_rate_is_exposure_plus_margin_in_whole_samples():
    w = planar_waveforms(PlanarParams(rig=_rig(), z_um=10.0, exposure_ms=10.0, frame_margin_ms=2.5))
    assert w.n_samples == round(FS * 12.5e-3)
    assert w.actual_frame_rate_hz == pytest.approx(80.0)
    assert FS / w.actual_frame_rate_hz == pytest.approx(w.n_samples, rel=1e-12)


def test_a_given_frame_rate_is_rounded_to_whole_samples_and_reported():
    w = planar_waveforms(PlanarParams(rig=_rig(), z_um=10.0, exposure_ms=5.0, frame_rate_hz=70.0))
    assert w.n_samples == round(FS / 70.0)
    assert w.actual_frame_rate_hz == pytest.approx(FS / w.n_samples)
    assert w.actual_frame_rate_hz == pytest.approx(70.0, rel=1e-3)


def test_one_trigger_per_frame_and_laser_only_during_exposure():
    w = planar_waveforms(PlanarParams(rig=_rig(), z_um=10.0, exposure_ms=6.0, frame_rate_hz=100))
    trigger = w.channels["camera_trigger"]
    rises = np.flatnonzero((trigger > 2.5) & (np.roll(trigger, 1) <= 2.5))
    np.testing.assert_array_equal(rises, [0])
    np.testing.assert_array_equal(w.trigger_samples, [0])
    expected = np.zeros(w.n_samples)
    expected[: w.exposure_samples] = TTL_HIGH_V
    assert w.exposure_samples == round(6e-3 * FS)
    np.testing.assert_array_equal(w.channels["laser_blanking"], expected)


def test_trigger_pulse_width_is_configurable():
    w = planar_waveforms(PlanarParams(rig=_rig(), z_um=10.0, exposure_ms=5.0, trigger_width_ms=0.2))
    assert np.count_nonzero(w.channels["camera_trigger"]) == round(0.2e-3 * FS)


def test_lateral_sweep_fits_whole_periods_in_the_frame():
    params = PlanarParams(
        rig=_rig(),
        z_um=10.0,
        exposure_ms=9.0,
        lateral=LateralSweep(frequency_hz=333.0, amplitude_v=0.8),
    )
    w = planar_waveforms(params)
    periods = w.actual_lateral_frequency_hz * w.period_s()
    assert periods == pytest.approx(round(periods), abs=1e-9)
    assert w.channels["lateral_galvo"].max() == pytest.approx(0.8, abs=0.01)
    assert w.channels["lateral_galvo"].min() == pytest.approx(-0.8, abs=0.01)


def test_exposure_longer_than_the_frame_period_is_refused():
    with pytest.raises(ValueError, match=r"exposure of 20 ms .* frame period of 10 ms"):
        planar_waveforms(PlanarParams(rig=_rig(), z_um=10.0, exposure_ms=20.0, frame_rate_hz=100))


def test_build_waveforms_picks_the_scan_from_the_params():
    planar = PlanarParams(rig=_rig(), z_um=10.0, exposure_ms=5.0)
    assert build_waveforms(planar).actual_volume_rate_hz is None
    volume = VolumetricParams(
        rig=_rig(),
        z_start_um=0.0,
        z_end_um=20.0,
        n_planes=10,
        volume_rate_hz=5.0,
        exposure_ms=5.0,
    )
    assert build_waveforms(volume).frames_per_period == 10
    with pytest.raises(ValueError, match="volumetric scans only"):
        build_waveforms(planar, piezo_readback_um=np.zeros(10))

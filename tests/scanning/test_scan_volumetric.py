"""Volumetric waveforms: timing of planes, triggers and laser, and the galvo following the piezo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightsheet.hardware.daq.limits import ChannelLimits
from lightsheet.scanning import (
    TTL_HIGH_V,
    LateralSweep,
    ScanRig,
    VolumetricParams,
    volumetric_waveforms,
)
from tests.scanning.channel_limits import LIMITS

FS = 100_000.0
UM_PER_V = 10.0
SLOPE, OFFSET = 0.02, -0.5


def _rig(sample_rate_hz: float = FS) -> ScanRig:
    return ScanRig(sample_rate_hz, LIMITS, UM_PER_V, SLOPE, OFFSET)


def _params(**overrides) -> VolumetricParams:
    values = dict(
        rig=_rig(),
        z_start_um=10.0,
        z_end_um=90.0,
        n_planes=40,
        volume_rate_hz=2.0,
        exposure_ms=5.0,
        skip_planes_start=2,
        skip_planes_end=1,
        flyback_fraction=0.2,
        lateral=LateralSweep(frequency_hz=730.0, amplitude_v=1.5),
    )
    values.update(overrides)
    return VolumetricParams(**values)


def _rising_edges(signal: np.ndarray) -> np.ndarray:
    """Rising edges of a periodic logic signal, the wrap from last to first sample included."""
    high = signal > TTL_HIGH_V / 2
    return np.flatnonzero(high & ~np.roll(high, 1))


def _samples_per_plane(w, params: VolumetricParams) -> int:
    return round(w.sample_rate_hz / w.actual_frame_rate_hz)


def test_period_is_whole_samples_and_reports_achieved_volume_rate():
    params = _params(volume_rate_hz=3.0, n_planes=37)  # 100 kHz / 3 is not a whole number
    w = volumetric_waveforms(params)
    samples_per_volume = FS / w.actual_volume_rate_hz
    assert samples_per_volume == pytest.approx(w.n_samples, rel=1e-12)
    assert FS / w.actual_frame_rate_hz == pytest.approx(_samples_per_plane(w, params), rel=1e-12)
    assert w.actual_volume_rate_hz == pytest.approx(3.0, rel=0.01)
    assert w.period_s() == pytest.approx(1 / w.actual_volume_rate_hz)
    for samples in w.channels.values():
        assert samples.dtype == np.float64
        assert samples.shape == (w.n_samples,)


def test_one_trigger_per_imaged_plane_and_none_on_skipped_planes():
    params = _params()
    w = volumetric_waveforms(params)
    spp = _samples_per_plane(w, params)
    edges = _rising_edges(w.channels["camera_trigger"])
    assert len(edges) == params.n_planes - params.skip_planes_start - params.skip_planes_end
    np.testing.assert_array_equal(edges, w.trigger_samples)
    np.testing.assert_array_equal(w.plane_index, np.arange(2, params.n_planes - 1))
    np.testing.assert_array_equal(w.trigger_samples, w.plane_index * spp)
    skipped = [*range(params.skip_planes_start), params.n_planes - 1]
    for plane in skipped:
        window = slice(plane * spp, (plane + 1) * spp)
        assert not w.channels["camera_trigger"][window].any()
        assert not w.channels["laser_blanking"][window].any()


def test_laser_is_on_exactly_during_each_exposure_and_off_in_flyback():
    params = _params(exposure_ms=7.3)
    w = volumetric_waveforms(params)
    assert w.exposure_samples == round(7.3e-3 * FS)
    expected = np.zeros(w.n_samples)
    for start in w.trigger_samples:
        expected[start : start + w.exposure_samples] = TTL_HIGH_V
    np.testing.assert_array_equal(w.channels["laser_blanking"], expected)
    ramp_samples = params.n_planes * _samples_per_plane(w, params)
    assert not w.channels["laser_blanking"][ramp_samples:].any()
    assert not w.channels["camera_trigger"][ramp_samples:].any()


def test_piezo_sweeps_the_configured_range_and_planes_are_evenly_spaced():
    params = _params()
    w = volumetric_waveforms(params)
    piezo_um = w.channels["piezo"] * UM_PER_V
    assert piezo_um.min() == pytest.approx(params.z_start_um)
    assert piezo_um.max() == pytest.approx(params.z_end_um)
    spacing = np.diff(w.plane_z_um)
    np.testing.assert_allclose(spacing, (params.z_end_um - params.z_start_um) / params.n_planes)
    assert params.z_start_um < w.plane_z_um[0] < w.plane_z_um[-1] < params.z_end_um


def test_reverse_ramp_runs_from_start_to_end():
    w = volumetric_waveforms(_params(z_start_um=90.0, z_end_um=10.0))
    assert np.all(np.diff(w.plane_z_um) < 0)
    assert w.channels["piezo"][0] * UM_PER_V == pytest.approx(90.0)


def test_z_galvo_follows_the_commanded_piezo_through_the_calibration():
    w = volumetric_waveforms(_params())
    piezo_um = w.channels["piezo"] * UM_PER_V
    np.testing.assert_allclose(w.channels["z_galvo"], SLOPE * piezo_um + OFFSET, atol=1e-12)
    np.testing.assert_allclose(w.sheet_z_um, piezo_um, atol=1e-12)


def test_z_galvo_follows_the_piezo_readback_when_fed_forward():
    params = _params()
    commanded = volumetric_waveforms(params)
    # A piezo that lags its command by 40 samples and sits 0.3 µm low.
    readback = np.roll(commanded.channels["piezo"] * UM_PER_V, 40) - 0.3
    w = volumetric_waveforms(params, piezo_readback_um=readback)
    np.testing.assert_allclose(w.channels["z_galvo"], SLOPE * readback + OFFSET, atol=1e-12)
    np.testing.assert_array_equal(w.channels["piezo"], commanded.channels["piezo"])
    windows = w.trigger_samples[:, None] + np.arange(w.exposure_samples)
    np.testing.assert_allclose(w.plane_z_um, readback[windows].mean(axis=1))
    assert w.z_at(w.trigger_samples[3] / FS) == pytest.approx(readback[w.trigger_samples[3]])


def test_readback_of_the_wrong_length_is_refused():
    params = _params()
    n = volumetric_waveforms(params).n_samples
    with pytest.raises(ValueError, match=f"one period of {n} samples"):
        volumetric_waveforms(params, piezo_readback_um=np.zeros(n - 1))


def test_lateral_triangle_is_symmetric_with_whole_periods():
    params = _params(lateral=LateralSweep(frequency_hz=730.0, amplitude_v=1.5))
    w = volumetric_waveforms(params)
    lateral = w.channels["lateral_galvo"]
    periods = w.actual_lateral_frequency_hz * w.period_s()
    assert periods == pytest.approx(round(periods), abs=1e-9)
    assert w.actual_lateral_frequency_hz == pytest.approx(730.0, abs=1 / w.period_s())
    assert lateral.max() == pytest.approx(1.5, abs=1e-3)
    assert lateral.min() == pytest.approx(-1.5, abs=1e-3)
    assert lateral[0] == 0.0
    upward_zero_crossings = np.flatnonzero((lateral >= 0) & (np.roll(lateral, 1) < 0))
    assert len(upward_zero_crossings) == round(periods)


def test_exposure_longer_than_a_plane_is_refused_naming_both():
    # 40 planes in 0.8 * 0.5 s: 10 ms per plane.
    with pytest.raises(ValueError, match=r"exposure of 12 ms .* plane period of 10 ms"):
        volumetric_waveforms(_params(exposure_ms=12.0))


def test_z_at_is_periodic_and_holds_each_sample():
    w = volumetric_waveforms(_params())
    for sample in (0, 1234, w.n_samples - 1):
        t = sample / FS
        assert w.z_at(t) == w.sheet_z_um[sample]
        assert w.z_at(t + 3 * w.period_s()) == w.sheet_z_um[sample]
        assert w.z_at(t + 0.5 / FS) == w.sheet_z_um[sample]


def test_waveforms_are_read_only():
    w = volumetric_waveforms(_params())
    with pytest.raises(ValueError):
        w.channels["piezo"][0] = 1.0


@settings(max_examples=50, deadline=None)
@given(
    sample_rate=st.sampled_from([20_000.0, 50_000.0, 100_000.0]),
    n_planes=st.integers(1, 60),
    samples_per_plane=st.integers(10, 400),
    flyback_fraction=st.floats(0.1, 0.5),
    exposure_fraction=st.floats(0.1, 1.0),
    skips=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    z=st.tuples(st.floats(0.0, 100.0), st.floats(0.0, 100.0)),
    lateral_hz=st.floats(0.0, 2000.0),
)
def test_any_valid_volume_keeps_its_timing_invariants(
    sample_rate,
    n_planes,
    samples_per_plane,
    flyback_fraction,
    exposure_fraction,
    skips,
    z,
    lateral_hz,
):
    skip_start, skip_end = skips
    if skip_start + skip_end >= n_planes:
        skip_start = skip_end = 0
    ramp_s = n_planes * samples_per_plane / sample_rate
    limits = dict(_rig().limits)
    limits["piezo"] = ChannelLimits(0.0, 10.0, max_step_v=10.0)  # steepness is not under test
    limits["z_galvo"] = ChannelLimits(-5.0, 5.0, max_step_v=10.0)
    params = VolumetricParams(
        rig=ScanRig(sample_rate, limits, UM_PER_V, SLOPE, OFFSET),
        z_start_um=z[0],
        z_end_um=z[1],
        n_planes=n_planes,
        volume_rate_hz=(1 - flyback_fraction) / ramp_s,
        exposure_ms=exposure_fraction * samples_per_plane / sample_rate * 1e3,
        skip_planes_start=skip_start,
        skip_planes_end=skip_end,
        flyback_fraction=flyback_fraction,
        lateral=LateralSweep(min(lateral_hz, sample_rate / 16), 1.0),
    )
    w = volumetric_waveforms(params)
    assert math.isclose(sample_rate / w.actual_volume_rate_hz, w.n_samples, rel_tol=1e-12)
    spp = round(sample_rate / w.actual_frame_rate_hz)
    assert spp == samples_per_plane
    assert w.n_samples > n_planes * spp
    edges = _rising_edges(w.channels["camera_trigger"])
    np.testing.assert_array_equal(edges, w.trigger_samples)
    assert len(edges) == n_planes - skip_start - skip_end
    laser_on = w.channels["laser_blanking"] > 0
    assert laser_on.sum() == len(edges) * w.exposure_samples
    assert not laser_on[n_planes * spp :].any()
    piezo_um = w.channels["piezo"] * UM_PER_V
    np.testing.assert_allclose(w.channels["z_galvo"], SLOPE * piezo_um + OFFSET, atol=1e-12)
    low, high = sorted(z)
    assert low - 1e-9 <= piezo_um.min() and piezo_um.max() <= high + 1e-9
    if w.actual_lateral_frequency_hz:
        periods = w.actual_lateral_frequency_hz * w.period_s()
        assert periods == pytest.approx(round(periods), abs=1e-9)

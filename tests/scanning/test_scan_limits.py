"""Nothing unsafe leaves the scanning layer: every channel is checked against its limits."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lightsheet.hardware.daq.limits import ChannelLimits, WaveformLimitError
from lightsheet.scanning import (
    LateralSweep,
    PlanarParams,
    ScanRig,
    VolumetricParams,
    planar_waveforms,
    static_outputs,
    volumetric_waveforms,
)

FS = 100_000.0
UM_PER_V = 10.0
LIMITS = {
    "piezo": ChannelLimits(min_v=0.0, max_v=10.0, max_step_v=0.05),
    "z_galvo": ChannelLimits(min_v=-5.0, max_v=5.0, max_step_v=0.05),
    "lateral_galvo": ChannelLimits(min_v=-2.0, max_v=2.0, max_step_v=0.5),
    "laser_blanking": ChannelLimits(min_v=0.0, max_v=5.0, max_step_v=5.0),
    "camera_trigger": ChannelLimits(min_v=0.0, max_v=5.0, max_step_v=5.0),
}


def _params(slope: float = 0.02, limits=LIMITS, **overrides) -> VolumetricParams:
    values = dict(
        rig=ScanRig(FS, limits, UM_PER_V, slope, -0.5),
        z_start_um=10.0,
        z_end_um=90.0,
        n_planes=40,
        volume_rate_hz=2.0,
        exposure_ms=5.0,
        flyback_fraction=0.2,
    )
    values.update(overrides)
    return VolumetricParams(**values)


def test_a_z_range_beyond_the_piezo_maximum_is_refused():
    with pytest.raises(WaveformLimitError, match=r"channel piezo: 12 V is above the maximum of 10"):
        volumetric_waveforms(_params(z_end_um=120.0))


def test_a_z_range_below_the_piezo_minimum_is_refused():
    with pytest.raises(WaveformLimitError, match=r"channel piezo: -1 V is below the minimum of 0"):
        volumetric_waveforms(_params(z_start_um=-10.0))


def test_a_too_steep_flyback_is_refused_at_a_flyback_sample():
    params = _params(volume_rate_hz=20.0, flyback_fraction=0.02, exposure_ms=0.5)
    with pytest.raises(WaveformLimitError, match=r"channel piezo: step of") as caught:
        volumetric_waveforms(params)
    sample = int(re.search(r"at sample (\d+)", str(caught.value)).group(1))
    ramp_samples = round(FS * 0.98 / (20.0 * 40)) * 40
    assert sample >= ramp_samples
    assert "largest allowed step of 0.05 V" in str(caught.value)


def test_a_long_enough_flyback_for_the_same_scan_is_accepted():
    w = volumetric_waveforms(_params(volume_rate_hz=20.0, flyback_fraction=0.25, exposure_ms=0.5))
    assert np.abs(np.diff(w.channels["piezo"], append=w.channels["piezo"][:1])).max() <= 0.05


def test_a_galvo_slope_beyond_the_galvo_range_is_refused():
    with pytest.raises(WaveformLimitError, match=r"channel z_galvo: 8.5 V is above the maximum"):
        volumetric_waveforms(_params(slope=0.1))


def test_the_regeneration_wrap_is_checked_too():
    params = _params()
    n = volumetric_waveforms(params).n_samples
    # A read-back that ramps the whole period and jumps back only across the wrap.
    readback = np.linspace(10.0, 90.0, n)
    message = rf"channel z_galvo: step of 1.6 V at sample {n - 1}"
    with pytest.raises(WaveformLimitError, match=message):
        volumetric_waveforms(params, piezo_readback_um=readback)


def test_a_lateral_amplitude_beyond_the_galvo_range_is_refused():
    params = PlanarParams(
        rig=ScanRig(FS, LIMITS, UM_PER_V, 0.02, -0.5),
        z_um=50.0,
        exposure_ms=10.0,
        lateral=LateralSweep(frequency_hz=100.0, amplitude_v=2.5),
    )
    message = re.escape("channel lateral_galvo: -2.5 V is below the minimum of -2 V")
    with pytest.raises(WaveformLimitError, match=message):
        planar_waveforms(params)


def test_a_trigger_line_that_may_not_switch_is_refused():
    limits = dict(LIMITS, camera_trigger=ChannelLimits(0.0, 5.0, max_step_v=1.0))
    with pytest.raises(WaveformLimitError, match="channel camera_trigger: step of 5 V"):
        volumetric_waveforms(_params(limits=limits))


def test_static_outputs_within_limits():
    values = static_outputs(45.0, 0.7, LIMITS, piezo_um_per_v=UM_PER_V)
    assert values == {
        "piezo": 4.5,
        "z_galvo": 0.7,
        "lateral_galvo": 0.0,
        "laser_blanking": 5.0,
        "camera_trigger": 0.0,
    }
    dark = static_outputs(45.0, 0.7, LIMITS, piezo_um_per_v=UM_PER_V, laser_on=False)
    assert dark["laser_blanking"] == 0.0


@pytest.mark.parametrize(
    ("piezo_um", "galvo_v", "message"),
    [
        (105.0, 0.0, "channel piezo: 10.5 V is above the maximum of 10 V"),
        (50.0, -5.5, "channel z_galvo: -5.5 V is below the minimum of -5 V"),
    ],
)
def test_static_outputs_outside_limits_are_refused_not_clipped(piezo_um, galvo_v, message):
    with pytest.raises(WaveformLimitError, match=message):
        static_outputs(piezo_um, galvo_v, LIMITS, piezo_um_per_v=UM_PER_V)

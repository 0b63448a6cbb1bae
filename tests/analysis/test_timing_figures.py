"""The timing figures on schedules and frame times built by hand, where the truth is known:
a missed trigger, jitter, a drifting camera clock, a host that falls behind, unlit exposures."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.analysis.exposure import lit_shares
from lightsheet.analysis.intervals import (
    FrameTimes,
    clock_drift,
    consecutive_intervals,
    interval_figures,
    lateness_figures,
    volume_period,
)
from lightsheet.analysis.schedule import Schedule

RATE = 10_000.0
PLANES = 4
PLANE_SAMPLES = 100  # 10 ms between planes
PERIOD_SAMPLES = 500  # four planes and a 10 ms flyback: 50 ms volumes
PULSE = 50  # laser on for the first 5 ms of each plane


def schedule() -> Schedule:
    triggers = np.arange(PLANES) * PLANE_SAMPLES
    laser = np.zeros(PERIOD_SAMPLES)
    for start in triggers:
        laser[start : start + PULSE] = 5.0
    sheet = np.linspace(0.0, 10.0, PERIOD_SAMPLES)
    return Schedule(
        mode="volumetric",
        sample_rate_hz=RATE,
        n_samples=PERIOD_SAMPLES,
        trigger_samples=triggers,
        plane_z_um=sheet[triggers],
        sheet_z_um=sheet,
        laser_blanking_v=laser,
        exposure_samples=PULSE,
    )


def frames(camera_ts: np.ndarray, host_ts: np.ndarray | None = None) -> FrameTimes:
    ids = np.arange(len(camera_ts))
    host = camera_ts + 1e-3 if host_ts is None else host_ts
    return FrameTimes(ids, np.asarray(camera_ts, dtype=float), np.asarray(host, dtype=float))


def test_frames_on_the_commanded_times_are_on_schedule() -> None:
    s = schedule()
    commanded = s.commanded_time_s(np.arange(40)) + 12.5  # any clock offset
    figures, residual = lateness_figures(frames(commanded), s)
    assert figures["late_frames"] == figures["early_frames"] == 0
    assert np.abs(residual).max() < 1e-9
    intervals = interval_figures(consecutive_intervals(frames(commanded), s), s)
    assert intervals["mean_ms"] == pytest.approx(10.0)
    assert intervals["count"] == 30  # 3 sweep intervals per volume; the flybacks are apart
    assert intervals["rate_ratio"] == pytest.approx(1.0)
    period = volume_period(frames(commanded), PLANES, s)
    assert period["measured_s"] == pytest.approx(period["commanded_s"]) == pytest.approx(0.05)


def test_a_trigger_the_camera_missed_without_counting_makes_every_later_frame_late() -> None:
    s = schedule()
    triggers = s.commanded_time_s(np.arange(41))
    # Trigger 10 never made a frame, and the camera's counter did not move: frame k >= 10
    # was really taken at trigger k + 1, one plane later than its id says.
    taken = np.concatenate((triggers[:10], triggers[11:]))
    figures, _ = lateness_figures(frames(taken), s)
    assert figures["late_frames"] == 30
    assert figures["first_off_frame_id"] == 10
    assert figures["early_frames"] == 0


def test_jitter_is_the_spread_of_intervals_against_the_commanded_ones() -> None:
    s = schedule()
    rng = np.random.default_rng(7)
    taken = s.commanded_time_s(np.arange(4000)) + rng.normal(0.0, 20e-6, 4000)
    figures = interval_figures(consecutive_intervals(frames(taken), s), s)
    # Each interval is the difference of two jittered times: sqrt(2) x 20 µs.
    assert figures["jitter_us"] == pytest.approx(20 * np.sqrt(2), rel=0.1)
    assert figures["mean_ms"] == pytest.approx(10.0, abs=0.01)
    assert figures["p1_ms"] < 10.0 < figures["p99_ms"]


def test_a_camera_clock_running_fast_shows_its_drift_in_ppm() -> None:
    rng = np.random.default_rng(3)
    host = np.arange(2000) * 0.01 + rng.exponential(2e-3, 2000)  # read some time after
    camera = (np.arange(2000) * 0.01) * (1 + 50e-6)
    drift = clock_drift(frames(camera, host))
    assert drift["drift_ppm"] == pytest.approx(50, abs=3 * drift["uncertainty_ppm"] + 5)
    assert drift["read_lag_max_ms"] > 5


def test_a_host_that_falls_behind_is_not_reported_as_a_clock_drift() -> None:
    camera = np.arange(200) * 0.01
    host = camera * 1.3  # every frame read later than the one before
    drift = clock_drift(frames(camera, host))
    assert drift["drift_ppm"] is None
    assert drift["read_lag_max_ms"] == pytest.approx(0.3 * camera[-1] * 1e3, rel=0.01)


def test_the_lit_share_is_the_part_of_each_exposure_under_the_laser_pulse() -> None:
    s = schedule()
    planes = np.array([0, 1, 3, 3])
    offsets = np.array([0.0, 2.5e-3, 5e-3, -2.5e-3])  # on time, late by half, late by all, early
    shares = lit_shares(s, planes, offsets, exposure_s=5e-3)
    assert shares == pytest.approx([1.0, 0.5, 0.0, 0.5])
    longer = lit_shares(s, np.array([2]), np.zeros(1), exposure_s=10e-3)
    assert longer == pytest.approx([0.5])  # a 10 ms exposure under a 5 ms pulse


def test_a_slowly_drifting_camera_clock_is_followed_not_reported_late() -> None:
    s = schedule()
    commanded = s.commanded_time_s(np.arange(20_000))  # 250 s
    taken = commanded * (1 + 100e-6)  # 25 ms behind by the end: 2.5 intervals
    figures, _ = lateness_figures(frames(taken), s)
    assert figures["late_frames"] == figures["early_frames"] == 0
    assert figures["camera_vs_board_ppm"] == pytest.approx(100, abs=1)

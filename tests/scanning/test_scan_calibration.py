"""Z-galvo calibration: a least-squares line through the operator's points, with its quality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightsheet.scanning import CalibrationError, CalibrationPoint, fit_calibration


def test_exact_on_synthetic_linear_data():
    points = [CalibrationPoint(z, 0.0125 * z - 0.4) for z in (0.0, 25.0, 50.0, 75.0, 100.0)]
    fit = fit_calibration(points)
    assert fit.slope == pytest.approx(0.0125)
    assert fit.offset == pytest.approx(-0.4)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.rms_residual_v == pytest.approx(0.0, abs=1e-12)
    assert fit.max_residual_v == pytest.approx(0.0, abs=1e-12)
    assert fit.apply(40.0) == pytest.approx(0.1)
    np.testing.assert_allclose(fit.apply(np.array([0.0, 80.0])), [-0.4, 0.6])


def test_a_bad_point_shows_in_the_residuals_and_r_squared():
    points = [CalibrationPoint(z, 0.01 * z) for z in (0.0, 20.0, 40.0, 60.0, 80.0)]
    points[2] = CalibrationPoint(40.0, 0.4 + 0.05)
    fit = fit_calibration(points)
    z = np.array([p.piezo_um for p in points])
    v = np.array([p.galvo_v for p in points])
    slope, offset = np.polyfit(z, v, 1)
    residuals = v - (slope * z + offset)
    assert fit.slope == pytest.approx(slope)
    assert fit.offset == pytest.approx(offset)
    assert fit.max_residual_v == pytest.approx(np.abs(residuals).max())
    assert fit.rms_residual_v == pytest.approx(np.sqrt(np.mean(residuals**2)))
    ss_tot = np.sum((v - v.mean()) ** 2)
    assert fit.r_squared == pytest.approx(1 - np.sum(residuals**2) / ss_tot)
    assert fit.r_squared < 1.0


def test_describe_is_one_line_with_the_line_and_its_quality():
    fit = fit_calibration([CalibrationPoint(0.0, 0.1), CalibrationPoint(10.0, 0.3)])
    text = fit.describe()
    assert "\n" not in text
    assert "0.02 V/µm" in text and "0.1 V" in text
    assert "2 points" in text and "R² = 1.000000" in text


@pytest.mark.parametrize(
    "points",
    [[], [CalibrationPoint(5.0, 0.1)], [CalibrationPoint(5.0, 0.1), CalibrationPoint(5.0, 0.2)]],
)
def test_fewer_than_two_distinct_positions_are_refused(points):
    with pytest.raises(CalibrationError, match="at least 2 points at distinct piezo positions"):
        fit_calibration(points)


def test_non_finite_points_are_refused():
    with pytest.raises(CalibrationError, match="finite"):
        fit_calibration([CalibrationPoint(0.0, 0.1), CalibrationPoint(float("nan"), 0.2)])


@settings(max_examples=50, deadline=None)
@given(
    slope=st.floats(-0.1, 0.1),
    offset=st.floats(-3.0, 3.0),
    zs=st.lists(st.floats(-200.0, 200.0), min_size=2, max_size=12, unique=True).filter(
        lambda zs: max(zs) - min(zs) > 1.0
    ),
)
def test_any_line_is_recovered(slope, offset, zs):
    fit = fit_calibration([CalibrationPoint(z, slope * z + offset) for z in zs])
    assert fit.slope == pytest.approx(slope, abs=1e-9)
    assert fit.offset == pytest.approx(offset, abs=1e-7)
    assert fit.max_residual_v == pytest.approx(0.0, abs=1e-9)

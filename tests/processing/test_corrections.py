"""The correction functions against the issue's formula written plainly in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.processing.corrections import (
    bin_image,
    binned_shape,
    correction_gain,
    max_project,
    process_block,
    process_plane,
)
from tests.processing.runs import reference


def test_gain_is_the_flat_normalised_to_its_mean_and_zero_where_the_flat_is_dark():
    dark = np.full((2, 3), 10, np.float32)
    flat = np.array([[110, 210, 10], [60, 5, 110]], np.float32)
    gain = correction_gain(dark, flat)
    span = flat - dark
    mean = span.mean()
    assert gain[0, 2] == 0 and gain[1, 1] == 0  # flat <= dark: no infinity, no NaN
    np.testing.assert_allclose(gain[0, 0], mean / 100, rtol=1e-6)
    with pytest.raises(ValueError, match="nowhere brighter"):
        correction_gain(dark, dark)


def test_a_plane_is_corrected_in_place_like_the_formula():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 4000, (1, 1, 16, 12)).astype(np.float32)
    dark = rng.integers(0, 100, (16, 12)).astype(np.float32)
    flat = rng.uniform(500, 1500, (16, 12)).astype(np.float32)
    plane = raw[0, 0].copy()
    process_plane(plane, True, dark=dark, gain=correction_gain(dark, flat))
    expected = reference(raw, np.ones((1, 1), bool), dark, flat)[0, 0]
    np.testing.assert_allclose(plane, expected, rtol=1e-5, atol=1e-3)


def test_dark_alone_is_a_subtraction_and_a_missing_plane_stays_zero():
    plane = np.full((4, 4), 100, np.float32)
    process_plane(plane, True, dark=np.full((4, 4), 30, np.float32))
    assert np.all(plane == 70)
    process_plane(plane, False, dark=np.full((4, 4), 30, np.float32))
    assert np.all(plane == 0)


def test_binning_averages_blocks_and_drops_the_edge_that_does_not_fill_one():
    image = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    assert binned_shape(image.shape, 2) == (3, 4)
    out = np.empty((3, 4), np.float32)
    bin_image(image, out, 2)
    expected = image[:6, :8].reshape(3, 2, 4, 2).mean(axis=(1, 3))
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="cannot bin"):
        binned_shape((3, 3), 4)


def test_max_projection_is_the_maximum_over_z():
    volume = np.random.default_rng(1).normal(size=(6, 5, 4)).astype(np.float32)
    out = np.empty((5, 4), np.float32)
    max_project(volume, out)
    np.testing.assert_array_equal(out, volume.max(axis=0))


def test_a_block_gives_exactly_what_the_planes_give_one_by_one():
    rng = np.random.default_rng(2)
    block = rng.integers(0, 4000, (1, 3, 10, 10)).astype(np.uint16)
    present = np.array([[True, False, True]])
    dark = rng.uniform(0, 50, (10, 10)).astype(np.float32)
    gain = rng.uniform(0.5, 2, (10, 10)).astype(np.float32)
    out = process_block(block, present, dark=dark, gain=gain, factor=2)
    for plane in range(3):
        expected_plane = block[0, plane].astype(np.float32)
        binned = np.empty((5, 5), np.float32)
        process_plane(expected_plane, present[0, plane], binned, dark=dark, gain=gain, factor=2)
        assert out[0, plane].tobytes() == binned.tobytes()
    assert block.dtype == np.uint16 and block.max() > 0  # the input block is left alone

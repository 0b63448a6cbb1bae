"""The phantom the simulated camera images: reproducible, photometrically sound, sheet-weighted."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.hardware.camera.phantom import FWHM_PER_SIGMA, Phantom

EXTENT_UM = (40.0, 80.0, 100.0)  # z, y, x
PIXEL_UM = 0.5
SHAPE = (160, 200)  # covers the lateral extent at PIXEL_UM


def single_bead(fwhm_um: float = 1.0) -> Phantom:
    return Phantom(EXTENT_UM, seed=5, n_beads=1, n_shells=0, n_fibres=0, bead_fwhm_um=fwhm_um)


def test_same_seed_gives_the_same_sample_and_another_seed_another() -> None:
    first = Phantom(EXTENT_UM, seed=11).render_plane(20.0, SHAPE, PIXEL_UM)
    again = Phantom(EXTENT_UM, seed=11).render_plane(20.0, SHAPE, PIXEL_UM)
    other = Phantom(EXTENT_UM, seed=12).render_plane(20.0, SHAPE, PIXEL_UM)
    assert first.dtype == np.float32 and first.shape == SHAPE
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert first.min() >= 0.0 and first.max() > 0.0


def test_a_bead_keeps_its_emission_whatever_the_pixel_size() -> None:
    phantom = single_bead()
    z_bead, y_bead, x_bead = phantom.bead_positions[0]
    sheet_fwhm = 3.0
    sheet_sigma = sheet_fwhm / FWHM_PER_SIGMA
    bead_sigma = 1.0 / FWHM_PER_SIGMA
    seen = phantom.bead_amplitudes[0] * sheet_sigma / np.hypot(sheet_sigma, bead_sigma)
    for pixel in (0.1, 0.65, 3.0):
        origin = (y_bead - 10.0, x_bead - 10.0)
        shape = (int(20 / pixel), int(20 / pixel))
        image = phantom.render_plane(
            z_bead, shape, pixel, origin_um=origin, sheet_fwhm_um=sheet_fwhm
        )
        assert image.sum() == pytest.approx(seen, rel=1e-3)
        peak = np.unravel_index(np.argmax(image), image.shape)
        centre = (origin[0] + (peak[0] + 0.5) * pixel, origin[1] + (peak[1] + 0.5) * pixel)
        assert np.hypot(centre[0] - y_bead, centre[1] - x_bead) <= pixel


def test_a_bead_fades_as_a_gaussian_of_its_distance_to_the_sheet() -> None:
    phantom = single_bead(fwhm_um=1.0)
    z_bead = phantom.bead_positions[0, 0]
    sheet_fwhm = 4.0
    combined_half_width = np.hypot(sheet_fwhm, 1.0) / 2

    def total(z: float) -> float:
        return float(phantom.render_plane(z, SHAPE, PIXEL_UM, sheet_fwhm_um=sheet_fwhm).sum())

    in_focus = total(z_bead)
    assert total(z_bead + combined_half_width) == pytest.approx(in_focus / 2, rel=1e-3)
    assert total(z_bead - combined_half_width) == pytest.approx(in_focus / 2, rel=1e-3)
    assert total(z_bead + 10 * sheet_fwhm) == 0.0


def test_a_thicker_sheet_blurs_z_and_collects_more_of_the_structures() -> None:
    phantom = Phantom(EXTENT_UM, seed=2, n_beads=0, n_shells=3, n_fibres=0)
    thin = phantom.render_plane(20.0, SHAPE, PIXEL_UM, sheet_fwhm_um=1.0)
    thick = phantom.render_plane(20.0, SHAPE, PIXEL_UM, sheet_fwhm_um=4.0)
    assert thin.sum() > 0.0
    assert thick.sum() > 2 * thin.sum()


def test_shells_and_fibres_are_drawn_without_beads() -> None:
    shells = Phantom(EXTENT_UM, seed=4, n_beads=0, n_shells=2, n_fibres=0)
    fibres = Phantom(EXTENT_UM, seed=4, n_beads=0, n_shells=0, n_fibres=2)
    empty = Phantom(EXTENT_UM, seed=4, n_beads=0, n_shells=0, n_fibres=0)
    planes = np.linspace(0.0, EXTENT_UM[0], 9)
    assert sum(shells.render_plane(z, SHAPE, PIXEL_UM).sum() for z in planes) > 0
    assert sum(fibres.render_plane(z, SHAPE, PIXEL_UM).sum() for z in planes) > 0
    assert all(empty.render_plane(z, SHAPE, PIXEL_UM).max() == 0 for z in planes)


def test_a_shell_is_hollow() -> None:
    phantom = Phantom(EXTENT_UM, seed=8, n_beads=0, n_shells=1, n_fibres=0)
    shell = phantom._shells[0]
    z, y, x = shell.centre
    image = phantom.render_plane(z, SHAPE, PIXEL_UM)
    centre_pixel = image[int(y / PIXEL_UM), int(x / PIXEL_UM)]
    assert image.max() > 0
    assert centre_pixel < 0.01 * image.max()


def test_a_sub_region_renders_the_same_pixels_as_the_whole() -> None:
    phantom = Phantom(EXTENT_UM, seed=9)
    whole = phantom.render_plane(15.0, SHAPE, PIXEL_UM)
    part = phantom.render_plane(15.0, (50, 70), PIXEL_UM, origin_um=(30 * PIXEL_UM, 45 * PIXEL_UM))
    np.testing.assert_allclose(part, whole[30:80, 45:115], rtol=1e-4, atol=1e-7)


def test_the_sample_lies_within_its_extent() -> None:
    phantom = Phantom(EXTENT_UM, seed=1, origin_um=(100.0, 0.0, 0.0))
    assert phantom.render_plane(EXTENT_UM[0] / 2, SHAPE, PIXEL_UM).max() == 0.0
    assert phantom.render_plane(100.0 + EXTENT_UM[0] / 2, SHAPE, PIXEL_UM).max() > 0.0
    low = phantom.origin_um
    high = low + phantom.extent_um
    assert np.all(phantom.bead_positions >= low) and np.all(phantom.bead_positions <= high)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"extent_um": (0.0, 10.0, 10.0)},
        {"extent_um": (10.0, 10.0)},
        {"extent_um": EXTENT_UM, "n_beads": -1},
        {"extent_um": EXTENT_UM, "bead_fwhm_um": 0.0},
        {"extent_um": EXTENT_UM, "origin_um": (0.0, float("nan"), 0.0)},
    ],
)
def test_invalid_phantoms_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Phantom(**kwargs)


def test_invalid_render_arguments_are_refused() -> None:
    phantom = Phantom(EXTENT_UM)
    with pytest.raises(ValueError):
        phantom.render_plane(0.0, (0, 10), PIXEL_UM)
    with pytest.raises(ValueError):
        phantom.render_plane(0.0, SHAPE, 0.0)
    with pytest.raises(ValueError):
        phantom.render_plane(0.0, SHAPE, PIXEL_UM, sheet_fwhm_um=-1.0)


def test_bead_peak_is_the_pixel_under_a_centred_bead_in_focus() -> None:
    phantom = single_bead()
    z_bead, y_bead, x_bead = phantom.bead_positions[0]
    pixel = 0.65
    # Put the bead at the centre of pixel (10, 10).
    origin = (y_bead - 10.5 * pixel, x_bead - 10.5 * pixel)
    image = phantom.render_plane(z_bead, (21, 21), pixel, origin_um=origin, sheet_fwhm_um=2.0)
    brightest = phantom.bead_peak(pixel, sheet_fwhm_um=2.0)
    assert image[10, 10] == image.max()
    assert image[10, 10] == pytest.approx(brightest * phantom.bead_amplitudes[0] / 1.5, rel=1e-4)

"""The timing report of real runs of the simulated rig: in sync when it is, out of sync with the
right reason when the camera exposes late, skips frames or free-runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lightsheet.analysis import PLOT_SIZE_PX, timing_section
from lightsheet.analysis.z_alignment import PLANAR_TOLERANCE_UM
from tests.cli.cli_helpers import assert_one_line_error, lightsheet

from .conftest import PLANES, VOLUMES

DELAY_MS = 10.0  # the late camera's exposure_delay_ms


def test_a_triggered_run_is_in_sync_with_every_plane_at_its_z(in_sync_run: Path) -> None:
    section = timing_section(in_sync_run)
    assert section["verdict"] == "in sync" and section["in_sync"] is True, section["summary"]
    assert section["summary"].startswith("in sync: 48 frames on schedule")
    assert section["reasons"] == []
    interval = section["interval"]
    assert interval["mean_ms"] == pytest.approx(interval["commanded_ms"], abs=1e-6)
    assert interval["jitter_us"] is not None and interval["jitter_us"] < 1.0
    assert section["schedule"]["late_frames"] == section["schedule"]["early_frames"] == 0
    period = section["volume_period"]
    assert period["measured_s"] == pytest.approx(period["commanded_s"], abs=1e-9)
    assert section["frames"]["present"] == PLANES * VOLUMES
    assert section["frames"]["missing_in_run"] == 0
    z = section["z_alignment"]
    assert z["available"] and z["planes_analysed"] == PLANES
    assert z["frames_matched"] == z["frames_analysed"] > 0
    assert abs(z["worst_error_um"]) < z["plane_spacing_um"] / 4
    assert all(abs(p["worst_frame_error_um"]) < z["plane_spacing_um"] / 4 for p in z["per_plane"])
    assert section["exposure"]["lit_share_min"] >= 0.99
    json.dumps(section, allow_nan=False)  # strict JSON, as metadata.json needs


def test_a_late_camera_images_every_plane_further_along_the_ramp(late_run: Path) -> None:
    section = timing_section(late_run)
    assert section["in_sync"] is False
    assert section["reasons"][0].startswith("plane ")
    assert "from its commanded z" in section["reasons"][0]
    z = section["z_alignment"]
    # The sheet moves one plane spacing per commanded interval, so a late exposure is imaged
    # that much further along: the planes inside the ramp show it plane by plane.
    shift_um = z["plane_spacing_um"] / section["interval"]["commanded_ms"] * DELAY_MS
    inner = [p for p in z["per_plane"] if 0 < p["plane"] < PLANES - 1]
    assert [p["error_um"] for p in inner] == pytest.approx([shift_um] * len(inner), abs=0.2)
    assert z["planes_off"] >= len(inner)
    delay = z["delay_from_z"]
    assert delay["significant"] and delay["delay_ms"] == pytest.approx(DELAY_MS, abs=1.5)
    # The camera's timestamps keep their rhythm: a constant delay is seen only in the planes.
    assert section["schedule"]["late_frames"] == 0
    exposure = section["exposure"]
    assert exposure["delay_source"] == "z alignment"
    assert exposure["lit_share_min"] == pytest.approx((24.0 - DELAY_MS) / 24.0, abs=0.06)
    assert any(reason.startswith("exposures only") for reason in section["reasons"])


def test_skipped_frames_are_out_of_sync_as_the_gaps_they_leave(gappy_run: Path) -> None:
    section = timing_section(gappy_run)
    assert section["in_sync"] is False
    assert section["reasons"] == ["3 frame(s) missing in 2 gap(s), first at volume 0 plane 5"]
    assert section["frames"]["gap_list"] == [
        {"volume": 0, "plane": 5, "frames": 1},
        {"volume": 2, "plane": 1, "frames": 2},
    ]
    # The frames that did arrive are where and when they should be.
    assert section["z_alignment"]["planes_off"] == 0
    assert section["schedule"]["late_frames"] == 0


def test_a_free_running_camera_is_out_of_sync_with_the_scan(free_running_run: Path) -> None:
    section = timing_section(free_running_run)
    assert section["in_sync"] is False
    assert "the camera free-runs" in section["reasons"][0]
    assert section["exposure"]["available"] is False


def test_a_planar_run_is_in_sync_at_its_single_plane(planar_run: Path) -> None:
    section = timing_section(planar_run)
    assert section["in_sync"] is True, section["summary"]
    assert section["mode"] == "planar"
    assert section["volume_period"]["count"] == 0
    z = section["z_alignment"]
    assert z["planes_analysed"] == 1 and z["tolerance_um"] == PLANAR_TOLERANCE_UM
    assert abs(z["worst_error_um"]) < PLANAR_TOLERANCE_UM


def test_inspect_keeps_its_summary_and_adds_the_verdict(late_run: Path) -> None:
    result = lightsheet("inspect", str(late_run))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "stop reason:   completed" in lines
    shape = f"({VOLUMES}, {PLANES}, 96, 96)"
    assert f"data:          (t, z, y, x) = {shape} uint16, compression none" in lines
    verdict = next(line for line in lines if line.startswith("timing:"))
    assert verdict == f"timing:        {timing_section(late_run)['summary']}"
    assert any(line.startswith("z error µm:") for line in lines)


def test_inspect_json_is_one_object_with_the_summary_and_the_timing(gappy_run: Path) -> None:
    result = lightsheet("inspect", str(gappy_run), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["run"]["volumes_saved"] == VOLUMES
    assert document["run"]["missing_frames"] == 3
    assert document["timing"]["verdict"] == "out of sync"
    assert document["timing"]["summary"] == timing_section(gappy_run)["summary"]


def test_inspect_plot_writes_a_png_of_the_figure_size(in_sync_run: Path, tmp_path: Path) -> None:
    plot = tmp_path / "timing.png"
    result = lightsheet("inspect", str(in_sync_run), "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    assert f"plot:          {plot}" in result.stdout.splitlines()
    with Image.open(plot) as image:
        assert image.format == "PNG"
        assert image.size == PLOT_SIZE_PX
        assert len(image.getcolors(maxcolors=1_000_000) or ()) > 10  # drawn, not blank


@pytest.mark.parametrize("name", ["missing/timing.png", "timing.jpg"])
def test_inspect_refuses_a_plot_it_cannot_write(in_sync_run: Path, tmp_path: Path, name: str):
    result = lightsheet("inspect", str(in_sync_run), "--plot", str(tmp_path / name))
    assert "--plot" in assert_one_line_error(result)
    assert not (tmp_path / name).exists()

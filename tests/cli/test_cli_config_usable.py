"""``lightsheet config check`` accepts only what the rig will run: the Session's timing and
waveform-limit checks, each refusal with its line, its key and a fix."""

from __future__ import annotations

from pathlib import Path

from lightsheet.app.session import Session, SessionConfigError
from lightsheet.config import load_config

from .cli_helpers import assert_one_line_error, lightsheet


def test_exposure_12_on_the_default_scan_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("# a slow camera\ncamera:\n  exposure_ms: 12\n")
    line = assert_one_line_error(lightsheet("config", "check", str(path)))
    assert line.startswith(f"{path}:3: camera.exposure_ms: 12 ms does not fit the plane period "
                           "of 11.25 ms (40 planes at 2 volumes/s)"), line  # fmt: skip
    assert "fix: lower the volume rate to 1.87/s or shorten the exposure to 11.25 ms" in line
    # The Session refuses the very same config, before any process starts.
    try:
        Session(load_config(path), log_dir=tmp_path / "logs").start()
    except SessionConfigError as exc:
        assert "does not fit in the plane period" in str(exc)
    else:
        raise AssertionError("the Session started a scan that config check refuses")


def test_the_rate_the_file_sets_is_the_line_named(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("scanning:\n  n_planes: 40\n  volume_rate_hz: 3\n")
    line = assert_one_line_error(lightsheet("config", "check", str(path)))
    assert line.startswith(f"{path}:3: scanning.volume_rate_hz: at most 2.25 volumes/s"), line


def test_z_beyond_the_galvo_is_refused_in_micrometres(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("scanning:\n  z_start_um: 0\n  z_end_um: 400\n")
    line = assert_one_line_error(lightsheet("config", "check", str(path)))
    assert line == (f"{path}:3: scanning.z_end_um: 400 µm is beyond what the piezo and the z "
                    "galvo can reach: 0–350 µm; fix: set 350 µm")  # fmt: skip


def test_a_planar_config_passes_and_notes_what_volumetric_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("scanning:\n  mode: planar\n  volume_rate_hz: 10\n")
    result = lightsheet("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    ok, note = result.stdout.splitlines()
    assert ok.startswith(f"{path}: OK") and "planar scan plays" in ok
    assert note.startswith(f"note: volumetric mode would be refused: {path}:3: "
                           "scanning.volume_rate_hz: at most 2.25 volumes/s")  # fmt: skip

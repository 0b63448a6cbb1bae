"""``lightsheet config`` and ``lightsheet logs`` through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import assert_one_line_error, lightsheet

BAD_INPUT = [
    pytest.param("camera:\n  exposure_ms: 10\n  colour: red\n", "rig.yaml:3: camera.colour: "
                 "unknown key", id="unknown key"),
    pytest.param("camera:\n  exposure_ms: fast\n", "rig.yaml:2: camera.exposure_ms: ",
                 id="wrong type"),
    pytest.param("scanning:\n  n_planes: 0\n", "rig.yaml:2: scanning.n_planes: ",
                 id="out of range"),
    pytest.param("camera:\n  exposure_ms: [1\n", "rig.yaml:", id="yaml syntax"),
]


@pytest.mark.parametrize(("text", "start"), BAD_INPUT)
def test_config_check_refuses_bad_input_with_file_line_and_key(
    tmp_path: Path, text: str, start: str
) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    result = lightsheet("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(str(tmp_path / start)), first


def test_config_check_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    line = assert_one_line_error(lightsheet("config", "check", str(tmp_path / "none.yaml")))
    assert line == f"{tmp_path / 'none.yaml'}: file not found"


def test_config_init_check_show_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    assert lightsheet("config", "init", str(path)).returncode == 0
    refused = assert_one_line_error(lightsheet("config", "init", str(path)))
    assert str(path) in refused
    check = lightsheet("config", "check", str(path))
    assert check.returncode == 0 and check.stdout.startswith(f"{path}: OK")
    path.write_text("# my rig\ncamera:\n  exposure_ms: 7.5  # faster\n")
    shown = lightsheet("config", "show", str(path))
    assert shown.returncode == 0
    assert "exposure_ms: 7.5" in shown.stdout
    assert "n_planes: 40" in shown.stdout  # defaults filled in


def test_logs_prints_the_merged_timeline_of_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert lightsheet("acquire", "--volumes", "1", "--out", str(run), "-q").returncode == 0
    result = lightsheet("logs", str(run))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    processes = {line.split()[1] for line in lines if line.strip()}
    assert {"main", "camera", "scanner", "dispatcher", "saver"} <= processes
    stamps = [line.split()[0] for line in lines if line.strip()]
    assert stamps == sorted(stamps)
    camera_only = lightsheet("logs", str(run), "--process", "camera").stdout.splitlines()
    assert camera_only and all(line.split()[1] == "camera" for line in camera_only)
    missing = assert_one_line_error(lightsheet("logs", str(tmp_path / "nowhere")))
    assert "no such folder" in missing

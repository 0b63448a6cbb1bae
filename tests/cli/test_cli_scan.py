"""The scanner through the command line: planar/volumetric runs, refused scans, rehearsal."""

from __future__ import annotations

from pathlib import Path

import h5py

from .cli_helpers import assert_one_line_error, lightsheet

SMALL = """\
camera:
  sensor_width: 64
  sensor_height: 64
  exposure_ms: 4.0
scanning:
  n_planes: 5
  z_end_um: 20.0
  volume_rate_hz: 5.0
"""


def test_planar_and_volumetric_runs_store_the_waveforms_they_played(tmp_path: Path) -> None:
    config = tmp_path / "rig.yaml"
    config.write_text(SMALL)
    for mode, planes in (("planar", 1), ("volumetric", 5)):
        run = tmp_path / mode
        result = lightsheet(
            "acquire", "--config", str(config), "--volumes", "3", "--mode", mode,
            "--out", str(run), "-q",
        )
        assert result.returncode == 0, result.stderr
        with h5py.File(run / "dataset.h5", "r") as f:
            assert f["data"].shape == (3, planes, 64, 64)
            assert f["waveforms"].attrs["mode"] == mode
            assert set(f["waveforms/channels"]) == {
                "piezo", "z_galvo", "lateral_galvo", "laser_blanking", "camera_trigger",
            }
            assert f["waveforms/channel_map"].attrs["piezo"] == "Dev1/ao0"


def test_a_scan_beyond_a_channel_limit_is_refused_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "rig.yaml"
    config.write_text(SMALL + "  z_start_um: -100.0\n")
    run = tmp_path / "run"
    line = assert_one_line_error(
        lightsheet("acquire", "--config", str(config), "--volumes", "1", "--out", str(run))
    )
    assert "piezo" in line and "refused" in line
    assert not (run / "dataset.h5").exists()


def test_rehearse_reports_what_the_ni_driver_received(tmp_path: Path) -> None:
    config = tmp_path / "rig.yaml"
    config.write_text(SMALL)
    result = lightsheet("rehearse", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "result: OK" in result.stdout
    assert "ao_voltage piezo = Dev1/ao0" in result.stdout
    assert "start trigger: /Dev1/ao/StartTrigger" in result.stdout
    assert "driver errors: none" in result.stdout

"""The timing section at the end of any run: never an exception, always a verdict that says
what could be judged (no frame, a fault, missing or broken parts of the run)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import h5py
import pytest

from lightsheet.analysis import analyse_timing, timing_section
from lightsheet.storage.metadata import read_metadata, write_metadata
from lightsheet.storage.run_reader import RunError
from tests.cli.cli_helpers import lightsheet, popen, write_config
from tests.pipeline.rigs import log_pid
from tests.waiting import wait_until

from .conftest import PLANES, triggered_rig


def strict_json(section: dict) -> dict:
    return json.loads(json.dumps(section, allow_nan=False))


def test_a_run_that_saved_no_frame_is_unknown(tmp_path: Path) -> None:
    write_metadata(tmp_path, {"stop_reason": "failed to start: camera refused", "config": {}})
    section = strict_json(timing_section(tmp_path))
    assert section["verdict"] == "unknown" and section["in_sync"] is None
    assert section["summary"] == "unknown: no frame was saved"
    assert section["frames"]["stop_reason"] == "failed to start: camera refused"
    inspect = lightsheet("inspect", str(tmp_path))
    assert inspect.returncode == 0, inspect.stderr
    assert "timing:        unknown: no frame was saved" in inspect.stdout.splitlines()


def test_a_folder_that_is_not_a_run_still_gets_a_section(tmp_path: Path) -> None:
    section = strict_json(timing_section(tmp_path))
    assert section["verdict"] == "unknown"
    assert "no metadata.json" in section["summary"]
    with pytest.raises(RunError, match="not a lightsheet run"):
        analyse_timing(tmp_path)


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy"))


def test_without_the_played_waveforms_the_schedule_is_unknown(in_sync_run, tmp_path) -> None:
    run = copy_run(in_sync_run, tmp_path)
    with h5py.File(run / "dataset.h5", "r+") as f:
        del f["waveforms"]
    section = strict_json(timing_section(run))
    assert section["summary"] == "unknown: the run holds no commanded schedule (/waveforms)"
    assert section["interval"]["count"] > 0  # what the frames alone say is still there
    assert section["interval"]["commanded_ms"] is None
    assert any("/waveforms" in note for note in section["notes"])


def test_broken_waveforms_become_a_note_not_an_exception(in_sync_run, tmp_path) -> None:
    run = copy_run(in_sync_run, tmp_path)
    with h5py.File(run / "dataset.h5", "r+") as f:
        triggers = f["waveforms/trigger_samples"]
        triggers[...] = triggers[...][::-1]  # no longer increasing
    section = strict_json(timing_section(run))
    assert section["verdict"] == "unknown"
    assert any("the commanded schedule: not computed" in note for note in section["notes"])


def test_an_unreadable_config_skips_the_z_alignment_only(in_sync_run, tmp_path) -> None:
    run = copy_run(in_sync_run, tmp_path)
    metadata = read_metadata(run)
    metadata["config"] = {"camera": {"exposure_ms": -3}}
    write_metadata(run, metadata)
    section = strict_json(timing_section(run))
    assert section["in_sync"] is True, section["summary"]
    assert section["z_alignment"]["available"] is False
    assert "z not checked" in section["summary"]


def test_a_faulted_run_is_judged_on_the_frames_it_kept(tmp_path: Path) -> None:
    rig = triggered_rig()
    rig.saving.chunk_ram_mb = 0.1  # one volume per chunk file
    config = write_config(rig, tmp_path / "rig.yaml")
    run = tmp_path / "run"
    process = popen("acquire", "--config", str(config), "--volumes", "1000", "--out", str(run))
    try:
        wait_until(lambda: len(list((run / "chunks").glob("*.h5"))) >= 3, 60, "three chunks")
        os.kill(log_pid(run, "saver"), signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1
    metadata = read_metadata(run)
    section = strict_json(timing_section(run))
    assert section["frames"]["stop_reason"].startswith("fault: saver")
    assert section["frames"]["present"] == metadata["volumes_saved"] * PLANES
    assert section["in_sync"] is True, section["summary"]

"""``lightsheet acquire`` and ``lightsheet inspect`` through the real command line."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import h5py

from tests.pipeline.rigs import log_pid, small_rig
from tests.waiting import wait_until

from .cli_helpers import assert_one_line_error, lightsheet, popen, write_config


def completed_chunks(run: Path) -> int:
    return len(list((run / "chunks").glob("*.h5")))


def test_acquire_then_inspect(tmp_path: Path) -> None:
    config = write_config(small_rig(4), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    result = lightsheet("acquire", "--config", str(config), "--volumes", "3", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert "volumes saved:   3" in result.stdout
    with h5py.File(run / "dataset.h5", "r") as f:
        assert f["data"].shape == (3, 4, 64, 64)
    saver = json.loads((run / "metadata.json").read_text())["saver"]
    assert saver["bytes_written"] == 3 * 4 * 64 * 64 * 2  # and the time it took: the sink's speed
    assert saver["write_s"] >= 0 and saver.get("write_gbps", 1) > 0
    assert sum(saver["planes_written"].values()) == 3 * 4  # every plane, and the way it went
    assert sorted(p.name for p in (run / "logs").iterdir()) == [
        "camera.log", "dispatcher.log", "main.log", "saver.log", "scanner.log",
    ]
    inspect = lightsheet("inspect", str(run))
    assert inspect.returncode == 0
    assert "(t, z, y, x) = (3, 4, 64, 64)" in inspect.stdout
    assert "stop reason:   completed" in inspect.stdout
    assert "B/s, the disk's speed in this run" in inspect.stdout  # from the saver's timing


def test_logs_show_every_command_to_each_process_and_its_answer(tmp_path: Path) -> None:
    config = write_config(small_rig(4), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    result = lightsheet("acquire", "--config", str(config), "--volumes", "2", "--out", str(run))
    assert result.returncode == 0, result.stderr
    timeline = lightsheet("logs", str(run)).stdout.splitlines()
    commands = [line for line in timeline if " CMD " in line]
    for process in ("camera", "scanner", "dispatcher", "saver"):
        to_it = f" main INFO CMD → {process} "
        sent = [line.split(" CMD ")[1] for line in commands if to_it in line]
        assert sent, f"nothing sent to {process}"
        for line in sent:  # "→ camera state #3 CameraState(...)"
            kind, number = line.split()[2:4]
            mine = [c for c in commands if f" {process} " in c and f"{kind} {number} " in c]
            assert any("received" in c for c in mine), (process, line)
            assert any("answered" in c for c in mine), (process, line)
            assert any(f"← {process} {kind} {number} ok" in c for c in commands), (process, line)
    assert any("← saver notice RunClosed(run=" in line for line in commands)


def test_acquire_refuses_a_non_empty_folder_unless_overwrite(tmp_path: Path) -> None:
    config = write_config(small_rig(2), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    args = ("acquire", "--config", str(config), "--volumes", "1", "--out", str(run))
    assert lightsheet(*args).returncode == 0
    line = assert_one_line_error(lightsheet(*args))
    assert str(run) in line and "--overwrite" in line
    assert lightsheet(*args, "--overwrite").returncode == 0
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_text("not a run")
    line = assert_one_line_error(
        lightsheet("acquire", "--volumes", "1", "--out", str(other), "--overwrite")
    )
    assert "not a lightsheet run" in line
    assert (other / "holiday.jpg").exists()


def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path) -> None:
    out = str(tmp_path / "run")
    assert "at least 1" in assert_one_line_error(
        lightsheet("acquire", "--volumes", "0", "--out", out)
    )
    assert "--out" in assert_one_line_error(lightsheet("acquire", "--volumes", "2"))
    assert "not allowed with" in assert_one_line_error(
        lightsheet("acquire", "--volumes", "2", "--duration", "3", "--out", out)
    )
    assert "expected a number" in assert_one_line_error(
        lightsheet("acquire", "--duration", "soon", "--out", out)
    )
    missing = assert_one_line_error(
        lightsheet("acquire", "--config", str(tmp_path / "nope.yaml"), "--volumes", "1",
                   "--out", out)
    )
    assert missing == f"{tmp_path / 'nope.yaml'}: file not found"
    assert not (tmp_path / "run").exists()
    assert "inspect" in assert_one_line_error(lightsheet("inspect", str(tmp_path)))


def test_dropped_frames_exit_3_and_are_counted(tmp_path: Path) -> None:
    config = write_config(small_rig(4, drop_frame_ids=[5, 6]), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    result = lightsheet("acquire", "--config", str(config), "--volumes", "3", "--out", str(run))
    assert result.returncode == 3, result.stderr
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["frames_missing"] == 2
    assert metadata["volumes_saved"] == 3


def test_ctrl_c_stops_cleanly_keeps_the_data_and_exits_130(tmp_path: Path) -> None:
    rig = small_rig(4, exposure_ms=20.0)
    rig.saving.chunk_ram_mb = 0.02  # one volume per chunk file: progress visible on disk
    config = write_config(rig, tmp_path / "rig.yaml")
    run = tmp_path / "run"
    process = popen("acquire", "--config", str(config), "--volumes", "1000", "--out", str(run))
    try:
        wait_until(lambda: completed_chunks(run) >= 2, 60, "two saved volumes")
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["stop_reason"] == "interrupted"
    assert 2 <= metadata["volumes_saved"] < 1000
    with h5py.File(run / "dataset.h5", "r") as f:
        assert f["data"].shape[0] == metadata["volumes_saved"]
    assert not list((run / "chunks").glob("*.partial"))


def test_a_killed_saver_exits_1_with_the_cause_in_the_metadata(tmp_path: Path) -> None:
    rig = small_rig(4, size=128, exposure_ms=5.0)
    rig.saving.chunk_ram_mb = 0.2
    config = write_config(rig, tmp_path / "rig.yaml")
    run = tmp_path / "run"
    process = popen("acquire", "--config", str(config), "--volumes", "1000", "--out", str(run))
    try:
        wait_until(lambda: completed_chunks(run) >= 2, 60, "two completed chunks")
        os.kill(log_pid(run, "saver"), signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["stop_reason"].startswith("fault: saver")
    assert "stop reason:     fault: saver" in stdout
    with h5py.File(run / "dataset.h5", "r") as f:
        assert f["data"].shape[0] == metadata["volumes_saved"] >= 2


def _saved(run: Path) -> int:
    try:
        with h5py.File(run / "dataset.h5", "r") as f:
            return f["data"].shape[0]
    except OSError:  # being replaced at this moment
        return 0

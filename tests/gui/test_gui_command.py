"""``lightsheet gui`` as an operator starts it: SIGTERM closes it cleanly with exit code 130."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lightsheet.cli import gui_cmd
from lightsheet.cli.parser import UsageError
from lightsheet.config import ConfigError, dump_config
from lightsheet.runtime.shm import list_blocks, owner_pid
from tests.waiting import wait_until

from .conftest import gui_rig

RUN_GUI = (
    "import argparse, sys\n"
    "from lightsheet.cli import gui_cmd\n"
    "sys.exit(int(gui_cmd.run(argparse.Namespace(config=sys.argv[1]))))\n"
)
PROCESSES = ("scanner", "camera", "dispatcher", "saver")


def session_logs(root: Path) -> list[Path]:
    return sorted(root.glob("*/camera.log"))


def test_without_a_display_the_command_says_so(monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(UsageError, match="no display"):
        gui_cmd.run(argparse.Namespace(config=None))


def test_a_bad_config_is_refused_before_any_window(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("camera:\n  exposure_ms: -3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: camera.exposure_ms"):
        gui_cmd.run(argparse.Namespace(config=str(path)))


def test_a_config_the_rig_will_not_run_is_refused_before_any_window(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("# too long for 40 planes at 2 volumes/s\ncamera:\n  exposure_ms: 12\n")
    with pytest.raises(ConfigError, match=r"rig.yaml:3: camera.exposure_ms: 12 ms does not fit"):
        gui_cmd.run(argparse.Namespace(config=str(path)))


def test_sigterm_closes_the_gui_cleanly(tmp_path: Path) -> None:
    config = gui_rig(tmp_path, logging={"dir": str(tmp_path / "logs")})
    path = tmp_path / "rig.yaml"
    path.write_text(dump_config(config))
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_GUI, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        wait_until(lambda: session_logs(tmp_path / "logs"), 60, "the session's logs")
        camera_log = session_logs(tmp_path / "logs")[0]
        session = camera_log.parent
        wait_until(
            lambda: all(
                (session / f"{name}.log").exists()
                and "started, pid" in (session / f"{name}.log").read_text()
                for name in PROCESSES
            ),
            60,
            "every process",
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    for name in PROCESSES:
        assert "exiting with code 0" in (session / f"{name}.log").read_text(), name
    assert "SIGTERM" in (session / "main.log").read_text()
    assert [b for b in list_blocks() if owner_pid(b) == process.pid] == []

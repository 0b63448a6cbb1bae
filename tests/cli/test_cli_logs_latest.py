"""``lightsheet logs`` without a folder shows the most recent session: a headless run's logs
(in its run folder) or the GUI's (under the log root), whichever was written last."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightsheet.cli import logs_cmd
from lightsheet.config import dump_config
from lightsheet.runtime.logs import new_session_dir, setup_process_logging, stop_process_logging
from tests.pipeline.rigs import small_rig


def run_cli(*args: str, cwd: Path, state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    return subprocess.run([sys.executable, "-m", "lightsheet", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def gui_like_session(state: Path) -> Path:
    """A session folder under the log root, written as the GUI's main process writes one."""
    session = new_session_dir(state / "lightsheet" / "logs")
    setup_process_logging("main", session, "INFO")
    logging.getLogger("lightsheet.gui").info("a GUI session")
    stop_process_logging()
    return session


@pytest.fixture
def places(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A working folder holding rig.yaml (a small rig: a run takes a moment) and a state home."""
    work, state = tmp_path / "work", tmp_path / "state"
    work.mkdir()
    (work / "rig.yaml").write_text(dump_config(small_rig()))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return work, state


def test_the_newest_of_a_headless_run_and_a_gui_session_is_shown(places) -> None:
    work, state = places
    gui_like_session(state)
    acquired = run_cli("acquire", "--config", "rig.yaml", "--volumes", "1", "--out",
                       "runs/demo", "-q", cwd=work, state=state)  # fmt: skip
    assert acquired.returncode == 0, acquired.stderr
    shown = run_cli("logs", cwd=work, state=state)
    assert shown.returncode == 0, shown.stderr
    expected = f"lightsheet logs: the most recent session, {work}/runs/demo/logs"
    assert shown.stderr.strip() == expected
    assert {line.split()[1] for line in shown.stdout.splitlines()} >= {"main", "camera", "saver"}
    session = gui_like_session(state)  # now the GUI logged last
    shown = run_cli("logs", cwd=work, state=state)
    assert str(session) in shown.stderr and "a GUI session" in shown.stdout


def test_a_remembered_run_is_found_from_anywhere(places, tmp_path: Path) -> None:
    work, state = places
    elsewhere = tmp_path / "elsewhere" / "run-7"
    acquired = run_cli("acquire", "--config", "rig.yaml", "--volumes", "1", "--out",
                       str(elsewhere), "-q", cwd=work, state=state)  # fmt: skip
    assert acquired.returncode == 0, acquired.stderr
    # `lightsheet acquire` noted the folder: found although not in the log root, ./ or ./runs.
    assert logs_cmd.latest_logs(cwd=work) == elsewhere.resolve() / "logs"
    logs_cmd.recent_runs_file().unlink()  # without the note, nothing leads there
    assert logs_cmd.latest_logs(cwd=work) is None
    logs_cmd.remember_run(elsewhere)
    assert logs_cmd.latest_logs(cwd=work) == elsewhere.resolve() / "logs"
    shown = run_cli("logs", "--process", "saver", cwd=work, state=state)
    assert shown.returncode == 0 and str(elsewhere) in shown.stderr
    assert shown.stdout and all(line.split()[1] == "saver" for line in shown.stdout.splitlines())


def test_without_any_session_the_error_says_where_it_looked(places) -> None:
    work, state = places
    result = run_cli("logs", cwd=work, state=state)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "no session logs yet" in result.stderr

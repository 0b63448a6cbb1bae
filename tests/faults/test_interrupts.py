"""Ctrl-C (and SIGTERM) at each phase of a run: exit 130, no traceback, metadata interrupted."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.waiting import wait_until

from .cli_runs import assert_nothing_left, assert_truthful, start_run


def interrupted(run, stderr: str, code: int) -> None:
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert run.metadata()["stop_reason"] == "interrupted"
    assert_nothing_left(run)


def test_ctrl_c_while_the_processes_start(tmp_path: Path) -> None:
    run = start_run(tmp_path)
    wait_until(lambda: (run.folder / "logs" / "main.log").exists(), 30, "the start-up")
    run.process.send_signal(signal.SIGINT)
    code, _, stderr = run.finish()
    interrupted(run, stderr, code)


def test_ctrl_c_twice_while_the_run_ends(tmp_path: Path) -> None:
    run = start_run(tmp_path, exposure_ms=20.0)
    wait_until(lambda: run.completed_chunks() >= 2, 60, "two saved volumes")
    run.process.send_signal(signal.SIGINT)
    log = run.folder / "logs" / "main.log"
    wait_until(lambda: "stop requested" in log.read_text(), 10, "the stop")
    run.process.send_signal(signal.SIGINT)  # while the files close
    run.process.send_signal(signal.SIGTERM)
    code, _, stderr = run.finish()
    interrupted(run, stderr, code)
    assert assert_truthful(run)["volumes_saved"] >= 2


def test_sigterm_is_a_clean_stop_too(tmp_path: Path) -> None:
    run = start_run(tmp_path)
    wait_until(lambda: run.completed_chunks() >= 1, 60, "a saved volume")
    run.process.send_signal(signal.SIGTERM)
    code, _, stderr = run.finish()
    interrupted(run, stderr, code)
    assert_truthful(run)


def test_ctrl_c_in_the_first_second_is_quiet_whenever_it_comes(tmp_path: Path) -> None:
    # From the moment lightsheet's own code runs (the interpreter's first ~0.1 s are Python's).
    for attempt, after in enumerate((0.25, 0.5, 0.9)):
        run = start_run(tmp_path / str(attempt))
        try:
            run.process.wait(after)
        except Exception:
            run.process.send_signal(signal.SIGINT)
        code, _, stderr = run.finish()
        assert code == 130, (after, stderr)
        assert "Traceback" not in stderr, (after, stderr)

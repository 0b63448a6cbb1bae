"""Worker base in a real spawned child: settings inbox, failures, SIGTERM, teardown."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightsheet.runtime.worker import Phase
from tests.runtime.procs import assert_no_leftovers, wait_until
from tests.runtime.workers import BlockWorker, FailingWorker, HangingWorker


def test_settings_are_latest_wins_and_applied_without_restart(tmp_path: Path) -> None:
    worker = BlockWorker("alpha", tmp_path)
    for value in range(100):
        worker.send_settings(value)  # queued before the child exists
    worker.start()
    try:
        wait_until(lambda: worker.applied.value == 99, timeout=30)
        assert worker.settings_calls.value == 1  # 0..98 were discarded, never applied
        pid = worker.pid
        worker.send_settings(7)
        wait_until(lambda: worker.applied.value == 7, timeout=10)
        assert worker.pid == pid and worker.phase == Phase.RUNNING
    finally:
        worker.request_stop()
        assert worker.join(10)
    assert worker.exitcode == 0
    assert worker.failure is None
    assert_no_leftovers([pid])
    text = (tmp_path / "alpha.log").read_text()
    assert " alpha INFO LOG stop requested\n" in text
    assert " alpha INFO LOG teardown done\n" in text


def test_exception_in_setup_is_logged_torn_down_and_exits_nonzero(tmp_path: Path) -> None:
    worker = FailingWorker("broken", tmp_path, fail_in="setup")
    worker.start()
    assert worker.join(30)
    assert worker.exitcode == 1
    assert worker.failure == "raised ValueError: sensor on fire (in setup)"
    assert worker.phase == Phase.DONE
    assert_no_leftovers([worker.pid])  # teardown released the block setup had created
    text = (tmp_path / "broken.log").read_text()
    assert " broken ERROR LOG setup raised ValueError: sensor on fire\n" in text
    assert "\n    Traceback (most recent call last):\n" in text
    assert "\n    ValueError: sensor on fire\n" in text
    assert text.index("Traceback") < text.index("teardown done")


def test_sigterm_unwinds_a_stuck_step_and_teardown_still_runs(tmp_path: Path) -> None:
    worker = HangingWorker("stuck", tmp_path)
    worker.start()
    wait_until(lambda: "step hangs" in _read(tmp_path / "stuck.log"), timeout=30)
    worker.terminate()
    assert worker.join(10)
    assert worker.exitcode == -15  # it still dies of the signal, after its teardown
    assert_no_leftovers([worker.pid])
    text = (tmp_path / "stuck.log").read_text()
    assert "terminated (SIGTERM) in step" in text
    assert "teardown done" in text


def test_a_worker_starts_once(tmp_path: Path) -> None:
    worker = BlockWorker("once", tmp_path)
    with pytest.raises(RuntimeError, match="not been started"):
        worker.join(0)
    worker.request_stop()  # asked to stop before it runs: it sets up, tears down, exits
    worker.start()
    with pytest.raises(RuntimeError, match="already started"):
        worker.start()
    assert worker.join(30)
    assert worker.exitcode == 0
    assert_no_leftovers([worker.pid])


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_a_child_carries_its_role_in_its_process_title(tmp_path: Path) -> None:
    import psutil

    worker = BlockWorker("camera", tmp_path)
    worker.start()
    try:
        wait_until(lambda: worker.phase == Phase.RUNNING, timeout=30)
        assert " ".join(psutil.Process(worker.pid).cmdline()).startswith("lightsheet: camera")
    finally:
        worker.request_stop()
        assert worker.join(10)

"""SIGKILL of each process at a random moment of a run (seeded): detected, stopped, truthful."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.waiting import wait_until

from .cli_runs import PROCESSES, assert_nothing_left, assert_truthful, start_run

SEED = int(os.environ.get("LIGHTSHEET_FAULT_SEED", "20261129"))


@pytest.mark.parametrize("victim", PROCESSES)
def test_a_process_killed_at_a_random_moment_ends_the_run_as_a_fault(
    tmp_path: Path, victim: str
) -> None:
    moment = random.Random(f"{SEED}-{victim}").uniform(0.0, 1.5)
    run = start_run(tmp_path)
    try:
        pid = run.pid_of(victim)
        wait_until(lambda: run.completed_chunks() >= 1, 60, "the first saved volume")
        time.sleep(moment)  # the random moment: the point of this test, not a wait for something
        os.kill(pid, signal.SIGKILL)
        code, _stdout, stderr = run.finish()
    finally:
        run.process.kill()
    assert code == 1, (victim, moment, stderr)
    assert "Traceback" not in stderr
    metadata = assert_truthful(run)
    assert metadata["stop_reason"].startswith(f"fault: {victim}: killed by signal SIGKILL")
    assert_nothing_left(run)

"""A supervisor that looks at a worker at any moment of a phase change sees no hang.

The child publishes its phase and its heartbeat as two separate shared values, and the monitor
thread reads them at any instant. Published phase first, a monitor reading in between saw
"setup" with no heartbeat yet (age infinite) and stopped a healthy rig ("saver not answering:
still in setup after inf s", in a loaded test run), or "running" with the heartbeat setup had
left, which a setup longer than the heartbeat limit made a hang. Here the monitor's judgement
is taken inside the child's heartbeat call of each change, the moment the two values differ.
"""

from __future__ import annotations

from pathlib import Path

from lightsheet.runtime.supervisor import Supervisor
from lightsheet.runtime.worker import Phase
from tests.runtime.workers import BlockWorker


def test_the_monitor_sees_no_hang_in_the_middle_of_a_phase_change(tmp_path: Path) -> None:
    worker = BlockWorker("alpha", tmp_path)
    # Any heartbeat older than this counts as a hang once the worker is running.
    supervisor = Supervisor([worker], heartbeat_timeout_s=1e-9)
    verdicts: list[tuple[Phase, str | None]] = []
    beat = worker.beat

    def judged_beat() -> None:
        verdicts.append((worker.phase, supervisor._unresponsive(worker)))
        beat()

    worker.beat = judged_beat  # type: ignore[method-assign]
    enter = worker._Worker__enter  # type: ignore[attr-defined]
    enter(Phase.SETUP, "setup")
    enter(Phase.RUNNING, "loop")
    assert [why for _, why in verdicts] == [None, None], verdicts
    assert worker.phase == Phase.RUNNING

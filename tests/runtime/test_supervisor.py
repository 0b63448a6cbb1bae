"""Supervisor: clean start/stop, and every way a child can fail is seen, named and contained."""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

from lightsheet.runtime.logs import read_timeline
from lightsheet.runtime.shm import remove_stale_blocks
from lightsheet.runtime.supervisor import Fault, Supervisor
from lightsheet.runtime.worker import Worker
from tests.runtime.procs import assert_no_leftovers, is_gone, wait_until, worker_blocks
from tests.runtime.workers import PURPOSE, BlockWorker, FailingWorker, HangingWorker, StuckWorker

STOP_ORDER = ["scanner", "camera", "dispatcher", "saver"]
# Generous: on a loaded CI machine a healthy child may be descheduled for a while.
RELAXED = {"heartbeat_timeout_s": 10.0, "stop_timeout_s": 10.0}


class FaultCatcher:
    """The owner's callback: records each call and the thread it came from."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.threads: list[str] = []
        self.called = threading.Event()

    def __call__(self, fault: Fault) -> None:
        self.faults.append(fault)
        self.threads.append(threading.current_thread().name)
        self.called.set()


def _rig(log_dir: Path, odd_one: Worker | None = None) -> list[Worker]:
    """The four usual processes, one of them possibly replaced by a misbehaving worker."""
    workers = [BlockWorker(name, log_dir) for name in ("saver", "dispatcher", "camera", "scanner")]
    if odd_one is not None:
        workers = [odd_one if w.name == odd_one.name else w for w in workers]
    return workers


def _teardown_order(log_dir: Path) -> list[str]:
    return [r.split()[1] for r in read_timeline(log_dir) if r.rstrip().endswith("teardown done")]


def test_starts_and_stops_cleanly_in_order(tmp_path: Path) -> None:
    workers = _rig(tmp_path)
    catcher = FaultCatcher()
    supervisor = Supervisor(workers, stop_order=STOP_ORDER, on_fault=catcher, **RELAXED)
    assert set(supervisor.states().values()) == {"not started"}
    supervisor.start()
    try:
        assert supervisor.wait_running(timeout=30)
        assert set(supervisor.states().values()) == {"running"}
        wait_until(lambda: all(w.steps.value > 0 for w in workers), timeout=10)
        assert len(worker_blocks()) == 4
    finally:
        supervisor.stop()
    assert supervisor.wait(0)
    assert supervisor.fault is None and not catcher.called.is_set()
    assert supervisor.states() == dict.fromkeys(STOP_ORDER, "stopped")
    assert all(w.exitcode == 0 for w in workers)
    assert _teardown_order(tmp_path) == STOP_ORDER  # each waited for before the next
    supervisor.stop()  # idempotent
    assert_no_leftovers([w.pid for w in workers])


def test_sigkill_of_a_worker_is_reported_within_a_second(tmp_path: Path) -> None:
    workers = _rig(tmp_path)
    catcher = FaultCatcher()
    supervisor = Supervisor(workers, stop_order=STOP_ORDER, on_fault=catcher, **RELAXED)
    supervisor.start()
    try:
        assert supervisor.wait_running(timeout=30)
        camera = supervisor.workers["camera"]
        os.kill(camera.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        fault = wait_until(lambda: supervisor.fault, timeout=1.0)
        detected_at = time.monotonic()
        assert supervisor.wait(timeout=30)
    finally:
        supervisor.stop()
    assert detected_at - killed_at <= 1.0
    assert (fault.process, fault.reason, fault.exitcode) == (
        "camera",
        "killed by signal SIGKILL",
        -signal.SIGKILL,
    )
    assert str(fault) == "camera killed by signal SIGKILL"
    assert catcher.faults == [fault] and catcher.threads == ["supervisor"]
    assert supervisor.states() == {
        "saver": "stopped",
        "dispatcher": "stopped",
        "camera": "died: killed by signal SIGKILL",
        "scanner": "stopped",
    }
    for pid in (w.pid for w in workers):
        wait_until(lambda pid=pid: is_gone(pid), timeout=5)

    # A SIGKILLed owner could not unlink its block: the next start-up removes it.
    stale = f"lightsheet-{camera.pid}-{PURPOSE}-camera"
    if stale in worker_blocks():
        assert stale in remove_stale_blocks()
        # The dead child had registered it with this process's resource tracker.
        resource_tracker.unregister(f"/{stale}", "shared_memory")
    assert_no_leftovers()


def test_a_hung_step_is_reported_as_not_answering(tmp_path: Path) -> None:
    workers = _rig(tmp_path, HangingWorker("dispatcher", tmp_path, heartbeat_timeout_s=0.5))
    supervisor = Supervisor(workers, stop_order=STOP_ORDER, stop_timeout_s=1.0)
    supervisor.start()
    try:
        fault = wait_until(lambda: supervisor.fault, timeout=30)
        assert supervisor.wait(timeout=30)
    finally:
        supervisor.stop()
    assert fault.process == "dispatcher"
    assert fault.reason.startswith("not answering: no heartbeat for ")
    assert fault.exitcode is None  # it was alive, just stuck
    states = supervisor.states()
    assert states.pop("dispatcher").startswith("died: not answering")
    assert set(states.values()) == {"stopped"}
    # It ignored the stop request, so it got SIGTERM, which unwound the step; teardown ran.
    assert supervisor.workers["dispatcher"].exitcode == -signal.SIGTERM
    assert "terminated (SIGTERM) in step" in (tmp_path / "dispatcher.log").read_text()
    assert _teardown_order(tmp_path) == STOP_ORDER
    assert_no_leftovers([w.pid for w in workers])


def test_a_setup_that_never_ends_is_reported(tmp_path: Path) -> None:
    workers = _rig(tmp_path, StuckWorker("saver", tmp_path, stuck_in="setup", setup_timeout_s=0.5))
    supervisor = Supervisor(workers, stop_order=STOP_ORDER, stop_timeout_s=1.0)
    supervisor.start()
    try:
        fault = wait_until(lambda: supervisor.fault, timeout=30)
        assert supervisor.wait(timeout=30)
    finally:
        supervisor.stop()
    assert fault.process == "saver"
    assert fault.reason.startswith("not answering: still ")  # starting, or in setup
    assert "terminated (SIGTERM) in setup" in (tmp_path / "saver.log").read_text()
    assert_no_leftovers([w.pid for w in workers])


def test_a_teardown_that_never_ends_is_killed(tmp_path: Path) -> None:
    stuck = StuckWorker("camera", tmp_path, stuck_in="teardown", stop_timeout_s=0.5)
    supervisor = Supervisor([stuck], heartbeat_timeout_s=10.0)
    supervisor.start()
    try:
        fault = wait_until(lambda: supervisor.fault, timeout=30)
        assert supervisor.wait(timeout=30)
    finally:
        supervisor.stop()
    # It failed by itself, then hung in teardown: seen although it never exited, and since a
    # teardown ignores SIGTERM, it took SIGKILL to end it.
    assert fault.reason.startswith("not answering: still shutting down after ")
    assert stuck.failure == "raised RuntimeError: lost the device (in step)"
    assert stuck.exitcode == -signal.SIGKILL
    assert "SIGTERM during teardown ignored" in (tmp_path / "camera.log").read_text()
    assert_no_leftovers([stuck.pid])


def test_an_exception_is_reported_with_its_text(tmp_path: Path) -> None:
    workers = _rig(tmp_path, FailingWorker("camera", tmp_path, fail_in="step"))
    catcher = FaultCatcher()
    supervisor = Supervisor(workers, stop_order=STOP_ORDER, on_fault=catcher, **RELAXED)
    supervisor.start()
    try:
        assert catcher.called.wait(30)
    finally:
        supervisor.stop()
    fault = supervisor.fault
    assert catcher.faults == [fault]
    assert str(fault) == "camera raised ValueError: sensor on fire (in step)"
    assert fault.exitcode == 1
    states = supervisor.states()
    assert states.pop("camera") == "died: raised ValueError: sensor on fire (in step)"
    assert set(states.values()) == {"stopped"}
    assert "\n    ValueError: sensor on fire\n" in (tmp_path / "camera.log").read_text()
    assert_no_leftovers([w.pid for w in workers])


def test_a_failure_during_stop_is_a_fault_reported_to_the_stopper(tmp_path: Path) -> None:
    workers = _rig(tmp_path, FailingWorker("saver", tmp_path, fail_in="teardown"))
    catcher = FaultCatcher()
    supervisor = Supervisor(workers, stop_order=STOP_ORDER, on_fault=catcher, **RELAXED)
    supervisor.start()
    assert supervisor.wait_running(timeout=30)
    supervisor.stop()
    fault = supervisor.fault
    assert str(fault) == "saver raised RuntimeError: shutter stuck open (in teardown)"
    assert catcher.faults == [fault] and catcher.threads == [threading.current_thread().name]
    assert_no_leftovers([w.pid for w in workers])


def test_a_signal_from_outside_is_a_fault(tmp_path: Path) -> None:
    worker = BlockWorker("camera", tmp_path)
    catcher = FaultCatcher()
    supervisor = Supervisor([worker], on_fault=catcher, **RELAXED)
    supervisor.start()
    assert supervisor.wait_running(timeout=30)
    os.kill(worker.pid, signal.SIGTERM)
    assert catcher.called.wait(30)
    supervisor.stop()
    assert supervisor.fault.reason == "killed by signal SIGTERM"
    assert "teardown done" in (tmp_path / "camera.log").read_text()
    assert_no_leftovers([worker.pid])


def test_stop_order_must_name_known_workers(tmp_path: Path) -> None:
    workers = [BlockWorker("camera", tmp_path)]
    with pytest.raises(ValueError, match="stop_order"):
        Supervisor(workers, stop_order=["camera", "laser"])
    with pytest.raises(ValueError, match="unique"):
        Supervisor([*workers, BlockWorker("camera", tmp_path)])
    Supervisor(workers).stop()  # stopping what never started is harmless

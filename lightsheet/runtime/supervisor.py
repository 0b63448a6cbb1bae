"""Supervisor: starts the workers, notices the first that dies or hangs, stops the rest in order.

One monitor thread waits on every child's sentinel (so a death, even by SIGKILL, is seen at once)
and checks heartbeats between waits. On the first fault it records which process failed and why,
stops the others in ``stop_order`` — hardware to a safe state first, then the consumers, each
waited for before the next so a dispatcher can drain before the saver closes its files —
escalating to SIGTERM and then SIGKILL for one that does not stop in time, and finally reports
the fault to its owner. ``stop()`` runs the same ordered shutdown without a fault.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_ready

from lightsheet.runtime.worker import Phase, Worker

_log = logging.getLogger("lightsheet.runtime.supervisor")
MONITOR_POLL_S = 0.05  # how often heartbeats are checked between sentinel waits
KILL_WAIT_S = 5.0  # after SIGKILL only an uninterruptible kernel wait can delay the exit
RUNNING, STOPPED, NOT_STARTED = "running", "stopped", "not started"


@dataclass(frozen=True)
class Fault:
    """Which process failed and why; ``time`` is wall-clock (``time.time()``)."""

    process: str
    reason: str  # "raised ValueError: ... (in step)", "killed by signal SIGKILL", ...
    exitcode: int | None  # None while the process is still alive (it stopped answering)
    time: float

    def __str__(self) -> str:
        return f"{self.process} {self.reason}"


class Supervisor:
    """Owner of a set of workers; never leaves one running after ``stop()`` or a fault.

    Timeouts set on a worker win over the defaults given here. ``on_fault`` is called once, after
    the ordered shutdown, from the monitor thread (or from the thread calling ``stop()`` when the
    fault happens during that stop); ``fault`` is set as soon as the fault is seen.
    """

    def __init__(
        self,
        workers: Sequence[Worker],
        stop_order: Sequence[str] = (),
        heartbeat_timeout_s: float = 2.0,
        stop_timeout_s: float = 5.0,
        setup_timeout_s: float = 30.0,
        on_fault: Callable[[Fault], None] | None = None,
        on_death: Callable[[Fault], None] | None = None,
        stop_timeouts: Mapping[str, Callable[[], float]] | None = None,
    ) -> None:
        names = [w.name for w in workers]
        if len(set(names)) != len(names):
            raise ValueError(f"worker names must be unique: {names}")
        unknown = [n for n in stop_order if n not in names]
        if unknown or len(set(stop_order)) != len(stop_order):
            raise ValueError(f"stop_order {list(stop_order)} must name distinct workers of {names}")
        self._workers = {w.name: w for w in workers}
        self._order = list(stop_order) + [n for n in names if n not in stop_order]
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._setup_timeout_s = setup_timeout_s
        self._on_fault = on_fault
        self._on_death = on_death
        self._stop_timeouts = dict(stop_timeouts or {})
        self._states = {name: NOT_STARTED for name in names}
        self._fault: Fault | None = None
        self._lock = threading.RLock()  # one shutdown at a time
        self._halt = threading.Event()  # the owner called stop(): the monitor steps aside
        self._done = threading.Event()  # every child is gone
        self._monitor: threading.Thread | None = None

    @property
    def workers(self) -> dict[str, Worker]:
        return dict(self._workers)

    @property
    def fault(self) -> Fault | None:
        return self._fault

    def states(self) -> dict[str, str]:
        """Each worker's state: "not started", "running", "stopped" or "died: <reason>"."""
        return dict(self._states)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every worker, then the monitor; if one cannot start, stop those that did."""
        if self._monitor is not None:
            raise RuntimeError("supervisor already started")
        try:
            for worker in self._workers.values():
                worker.start()
                self._states[worker.name] = RUNNING
                _log.info("started %s (pid %d)", worker.name, worker.pid)
        except BaseException:
            self._shutdown()
            raise
        self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._monitor.start()

    def stop(self) -> None:
        """Ordered clean shutdown; returns when every child is gone. Safe to call twice."""
        self._halt.set()
        with self._lock:
            fault = self._shutdown()
        monitor = self._monitor
        if monitor is not None and monitor is not threading.current_thread():
            monitor.join()
        if fault is not None:
            self._report(fault)

    def replace(self, worker: Worker) -> Worker:
        """Stop the running worker of ``worker.name`` and start ``worker`` in its place.

        For settings that need a new process (another DAQ board, another trigger port) without
        stopping the rest of the rig. The old worker must stop cleanly; one that has to be
        terminated is a fault like any other. Returns the old worker.
        """
        with self._lock:
            if self._fault is not None or self._halt.is_set():
                raise RuntimeError(f"cannot replace {worker.name}: the supervisor is stopping")
            old = self._workers.get(worker.name)
            if old is None:
                raise ValueError(f"no worker named {worker.name} to replace")
            self._stop_one(old)
            if self._fault is not None:
                raise RuntimeError(f"{worker.name} did not stop cleanly: {self._fault.reason}")
            self._workers[worker.name] = worker
            worker.start()
            self._states[worker.name] = RUNNING
            _log.info("replaced %s (pid %d)", worker.name, worker.pid)
        return old

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every child is gone (after a fault or a stop); True when they are."""
        return self._done.wait(timeout)

    def wait_running(self, timeout: float) -> bool:
        """Wait until every worker is in its run loop; False on timeout, a fault or a stop."""
        deadline = time.monotonic() + timeout
        while self._fault is None and not self._done.is_set():
            if all(w.phase == Phase.RUNNING for w in self._workers.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            self._done.wait(MONITOR_POLL_S)
        return False

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- monitoring ---------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._halt.is_set():
            with self._lock:
                running = [w for w in self._workers.values() if self._states[w.name] == RUNNING]
            if not running:
                return
            ready = set(wait_ready([w.sentinel for w in running], MONITOR_POLL_S))
            fault = None
            for worker in running:
                if self._workers.get(worker.name) is not worker:
                    continue  # replaced meanwhile: its exit was the replacement's business
                # Only a ready sentinel counts as an exit: a worker that died after the wait
                # returned is classified on the next pass, never mistaken for a clean stop.
                exited = worker.sentinel in ready
                if exited:
                    worker.join(KILL_WAIT_S)  # the sentinel fires just before the exit status
                    reason = self._exit_reason(worker)
                else:
                    reason = self._unresponsive(worker)
                if reason is not None:
                    fault = Fault(worker.name, reason, worker.exitcode, time.time())
                    break
                if exited:
                    with self._lock:  # not when stop() ended it meanwhile (it says so itself)
                        mine = self._workers.get(worker.name) is worker
                        if mine and self._states[worker.name] == RUNNING:
                            self._states[worker.name] = STOPPED
                            _log.info("%s stopped by itself", worker.name)
            if fault is not None:
                with self._lock:
                    if self._halt.is_set():
                        return  # the owner is stopping; its shutdown handles this exit
                    if self._workers.get(fault.process) is not worker:
                        continue  # a replaced worker: not a fault of the rig
                    self._record(fault)
                    self._first_aid(fault)
                    self._shutdown()
                self._report(fault)
                return

    def _unresponsive(self, worker: Worker) -> str | None:
        """Why a live worker counts as hung, or None while it answers in time."""
        phase = worker.phase
        if phase == Phase.NEW:  # the child has not even reached setup (interpreter start-up)
            limit = worker.setup_timeout_s or self._setup_timeout_s
            age = time.monotonic() - (worker.started_at or time.monotonic())
            what = "still starting after"
        elif phase == Phase.SETUP:  # the heartbeat was taken when setup began
            limit = worker.setup_timeout_s or self._setup_timeout_s
            age, what = worker.heartbeat_age, "still in setup after"
        elif phase == Phase.RUNNING:
            limit = worker.heartbeat_timeout_s or self._heartbeat_timeout_s
            age, what = worker.heartbeat_age, "no heartbeat for"
        else:  # shutting down on its own (after a failure or a signal) and not getting there
            limit = worker.stop_timeout_s or self._stop_timeout_s
            age, what = worker.heartbeat_age, "still shutting down after"
        if age <= limit:
            return None
        return f"not answering: {what} {age:.1f} s (limit {limit:g} s)"

    @staticmethod
    def _exit_reason(worker: Worker) -> str | None:
        """Why an exited worker counts as a fault, or None for a clean stop."""
        code = worker.exitcode
        if worker.failure:
            return worker.failure
        if code == 0:
            return None if worker.stop_event.is_set() else "exited without being asked to stop"
        if code is None:
            return "did not exit after its sentinel fired"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def _record(self, fault: Fault) -> None:
        self._states[fault.process] = f"died: {fault.reason}"
        if self._fault is None:
            self._fault = fault
            _log.error("fault: %s; stopping the others", fault)
        else:
            _log.warning("during shutdown: %s", fault)

    def _first_aid(self, fault: Fault) -> None:
        """Before the ordered shutdown: what must not wait for it (outputs a dead scanner held)."""
        if self._on_death is None:
            return
        try:
            self._on_death(fault)
        except Exception:
            _log.exception("the death handler raised")

    def _report(self, fault: Fault) -> None:
        if self._on_fault is None or fault is not self._fault:
            return
        try:
            self._on_fault(fault)
        except Exception:
            _log.exception("the fault callback raised")

    # -- shutdown -----------------------------------------------------------------------------

    def _shutdown(self) -> Fault | None:
        """Stop every live worker in order; return a fault that happened during this stop."""
        first = self._fault
        for name in self._order:
            self._stop_one(self._workers[name])
        self._done.set()
        return self._fault if self._fault is not first else None

    def _stop_one(self, worker: Worker) -> None:
        if not worker.started or worker.exitcode is not None:
            self._settle(worker, None)
            return
        timeout = self._stop_timeout(worker)
        # In a helper thread: a child SIGKILLed while holding its stop event's lock would block
        # set() forever, and the escalation below must still happen.
        asker = threading.Thread(target=worker.request_stop, name=f"stop-{worker.name}")
        asker.daemon = True
        asker.start()
        if worker.join(timeout):
            self._settle(worker, None)
            return
        escalation = f"did not stop within {timeout:g} s"
        _log.warning("%s %s: terminating it", worker.name, escalation)
        worker.terminate()
        if not worker.join(timeout):
            _log.warning("%s ignored SIGTERM for %g s: killing it", worker.name, timeout)
            worker.kill()
            worker.join(KILL_WAIT_S)
        self._settle(worker, escalation)

    def _stop_timeout(self, worker: Worker) -> float:
        """The worker's own deadline for a clean stop: from what it still holds, if it says."""
        timeout = worker.stop_timeout_s or self._stop_timeout_s
        dynamic = self._stop_timeouts.get(worker.name)
        if dynamic is not None:
            try:
                timeout = max(timeout, float(dynamic()))
            except Exception:
                _log.exception("the stop deadline of %s could not be computed", worker.name)
        return timeout

    def _settle(self, worker: Worker, escalation: str | None) -> None:
        """Record how a worker ended, unless an earlier fault already said."""
        if self._states[worker.name] not in (RUNNING, NOT_STARTED):
            return
        if not worker.started:
            return
        reason: str | None
        if worker.exitcode is None:
            reason = f"{escalation}; still alive after SIGKILL"
        else:
            reason = escalation or self._exit_reason(worker)
        if reason is None:
            self._states[worker.name] = STOPPED
            _log.info("%s stopped (exit code %s)", worker.name, worker.exitcode)
        else:
            self._record(Fault(worker.name, reason, worker.exitcode, time.time()))

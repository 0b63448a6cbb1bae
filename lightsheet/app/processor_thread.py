"""The live processor in a thread of the main process (``processing.multi_core: false``).

It runs the very ``ProcessorLoop`` the processor process runs, on the same latest-only view of
the frame ring, with the same ordered commands (numbered and logged as CMD lines in the main
process's log) and the latest-wins state, so it gives the same results; it only shares the main
process's core and interpreter. Its answers come back on ``Answer`` objects that read like the
process link's ``Pending``.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from lightsheet.app.processor_process import RESULT_SLOTS, ProcessorRequest
from lightsheet.processes.commands import ProcessorCommand, ProcessorState
from lightsheet.processes.processor import IDLE_WAIT_S
from lightsheet.processes.processor_loop import ProcessorLoop
from lightsheet.processes.status import ProcessorStatus
from lightsheet.processing.results import LocalResultQueue, ResultRing
from lightsheet.runtime.commands import (
    CommandFailed,
    CommandRefused,
    Envelope,
    Reply,
    log_cmd,
)
from lightsheet.runtime.process_link import ACK_TIMEOUT_S, Awaited
from lightsheet.runtime.ring import Ring, RingSpec
from lightsheet.runtime.status import StatusBoard

log = logging.getLogger("lightsheet.processor")
_JOIN_S = 5.0


class Answer(Awaited):
    """The answer to one command sent to the thread (``done``, ``wait`` as ``Pending``'s)."""

    def __init__(self, envelope: Envelope) -> None:
        super().__init__()
        self.envelope = envelope

    def wait(self, timeout_s: float = ACK_TIMEOUT_S) -> Any:
        if not self._done.wait(timeout_s):
            raise CommandFailed("processor", f"{self.envelope}: no answer within {timeout_s:g} s")
        return self._value("processor", str(self.envelope))


class ProcessorThread:
    """One processor thread, its view of the frame ring and its result memory."""

    where = "thread"

    def __init__(self, request: ProcessorRequest, frames: RingSpec, status: StatusBoard) -> None:
        self._request = request
        self._frames = frames
        self._status = status
        self.results: LocalResultQueue | ResultRing = (
            ResultRing.create(RESULT_SLOTS, request.slot_bytes)
            if request.shared_memory
            else LocalResultQueue(request.queue_size)
        )
        self._inbox: queue.Queue[Answer] = queue.Queue()
        self._state: ProcessorState | None = None
        self._state_lock = threading.Lock()
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ring: Ring | None = None
        self._crashed: str | None = None

    def start(self) -> None:
        request = self._request
        self._ring = self._frames.attach()
        self._loop = ProcessorLoop(
            self._ring, self._status.section(ProcessorStatus), self.results, log,
            request.on_failure, request.on_error, request.max_restarts,
        )  # fmt: skip
        self._loop.set_state(request.initial)
        self._loop.apply_all(request.backlog)
        self._thread = threading.Thread(target=self._run, name="processor", daemon=True)
        self._thread.start()
        log.info("processor thread started: %s", request.initial.summary())

    def stop(self) -> None:
        """Stop the thread, complete a run's files, release the memory. Safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_JOIN_S)
            if thread.is_alive():
                log.error("the processor thread is still busy after %g s; left behind", _JOIN_S)
                return  # it still uses the ring and the results: they go with the process
            self._loop.close()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        self.results.close()

    # -- messages -----------------------------------------------------------------------------

    def post(self, message: ProcessorCommand) -> Answer:
        self._seq += 1
        answer = Answer(Envelope(self._seq, "command", message))
        log_cmd(log, "→ processor (thread) %s", answer.envelope)
        self._inbox.put(answer)
        return answer

    def call(self, message: ProcessorCommand, timeout_s: float = ACK_TIMEOUT_S) -> Any:
        return self.post(message).wait(timeout_s)

    def set_state(self, state: ProcessorState) -> None:
        with self._state_lock:
            self._state = state
        log_cmd(log, "→ processor (thread) state %s", state.summary())

    # -- what the rest reads ----------------------------------------------------------------------

    def problem(self) -> str | None:
        return self._crashed

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._crashed is None

    def pids(self) -> dict[str, int]:
        return {}

    def states(self) -> dict[str, str]:
        return {}

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._take_state()
                self._take_commands()
                if not self._loop.step():
                    self._stop.wait(IDLE_WAIT_S)
        except Exception as exc:  # the loop's own code, not the processor's: report, stop
            log.exception("the processor thread failed")
            self._crashed = f"processor thread raised {type(exc).__name__}: {exc}"
            self._request.on_death(self._crashed)

    def _take_state(self) -> None:
        with self._state_lock:
            state, self._state = self._state, None
        if state is not None:
            self._loop.set_state(state)

    def _take_commands(self) -> None:
        while True:
            try:
                answer = self._inbox.get_nowait()
            except queue.Empty:
                return
            envelope = answer.envelope
            try:
                reply = Reply(envelope.seq, "command", True, self._loop.command(envelope.message))
            except CommandRefused as exc:
                reply = Reply(envelope.seq, "command", False, None, str(exc))
            level = logging.INFO if reply.ok else logging.WARNING
            log_cmd(log, "← processor (thread) %s", reply, level=level)
            answer.resolve(reply)

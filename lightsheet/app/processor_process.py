"""The processor process and what it needs, owned by the Pipeline: spawned on demand, stopped
with the rig or alone.

Its result memory (a result ring, or a queue) is created before it is spawned and released
after it is gone, like the rig's rings. It has a Supervisor of its own, with the same death
watch, heartbeat and ordered stop as the rig's processes: its death is reported to the live
processing (``on_death``), which records it and switches processing off or starts it again,
while camera, dispatcher and saver go on untouched. One ``ProcessLink`` carries its state and
its ordered commands, logged at both ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightsheet.processes.commands import ProcessorCommand, ProcessorFailed, ProcessorState
from lightsheet.processes.processor import ProcessorWorker
from lightsheet.processing.engine import OnError
from lightsheet.processing.processor_channel import MirrorMessage
from lightsheet.processing.results import ResultQueue, ResultRing
from lightsheet.runtime.process_link import ACK_TIMEOUT_S, Pending, ProcessLink
from lightsheet.runtime.ring import RingSpec
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.supervisor import Fault, Supervisor

log = logging.getLogger("lightsheet.processor")

RESULT_SLOTS = 3  # the writer fills one while readers copy another


@dataclass
class ProcessorRequest:
    """What a processor host is started with (the same for a thread and for a process)."""

    initial: ProcessorState
    backlog: list[MirrorMessage]
    shared_memory: bool
    slot_bytes: int
    queue_size: int
    on_error: OnError
    max_restarts: int
    on_failure: Callable[[ProcessorFailed], None] = field(repr=False)
    on_death: Callable[[str], None] = field(repr=False)


class ProcessorProcess:
    """One processor process: its worker, Supervisor, link and result memory."""

    where = "process"

    def __init__(self, request: ProcessorRequest, frames: RingSpec, status: StatusBoard,
                 log_dir: Path, log_level: str) -> None:  # fmt: skip
        self._request = request
        self._frames = frames
        self._status = status
        self._log_dir = log_dir
        self._log_level = log_level
        self.results: ResultQueue | ResultRing = (
            ResultRing.create(RESULT_SLOTS, request.slot_bytes)
            if request.shared_memory
            else ResultQueue(request.queue_size)
        )
        self._supervisor: Supervisor | None = None
        self._link: ProcessLink[ProcessorState, ProcessorCommand] | None = None
        self._stopping = False

    def start(self) -> None:
        request, results = self._request, self.results
        spec = results.spec if isinstance(results, ResultRing) else results
        worker = ProcessorWorker(
            self._frames, self._status, request.initial, request.backlog, spec,
            request.on_error, request.max_restarts,
            log_dir=self._log_dir, log_level=self._log_level,
        )  # fmt: skip
        supervisor = Supervisor([worker], on_fault=self._died)
        self._supervisor = supervisor
        try:
            supervisor.start()
        except BaseException:
            self.stop()
            raise
        if isinstance(results, ResultQueue):
            results.producer_started()
        link: ProcessLink[ProcessorState, ProcessorCommand] = ProcessLink(
            worker, self.problem, self._on_notice
        )
        self._link = link
        link.start()
        log.info("processor process started (pid %s)", worker.pid)

    def stop(self) -> None:
        """Stop the process and release its result memory. Safe to call twice."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.stop()
        if self._link is not None:
            self._link.stop()
        self.results.close()

    # -- messages -----------------------------------------------------------------------------

    def post(self, message: ProcessorCommand) -> Pending:
        """Queue an ordered command; its answer (or refusal) comes later on the Pending."""
        return self._require_link().post(message)

    def call(self, message: ProcessorCommand, timeout_s: float = ACK_TIMEOUT_S) -> Any:
        return self._require_link().send(message, timeout_s)

    def set_state(self, state: ProcessorState) -> None:
        self._require_link().post_state(state)

    # -- what the rest reads ----------------------------------------------------------------------

    def problem(self) -> str | None:
        fault = None if self._supervisor is None else self._supervisor.fault
        return None if fault is None else f"processor {fault.reason}"

    @property
    def alive(self) -> bool:
        return self.problem() is None and not self._stopping

    def pids(self) -> dict[str, int]:
        supervisor = self._supervisor
        if supervisor is None:
            return {}
        worker = supervisor.workers["processor"]
        return {} if worker.pid is None else {"processor": worker.pid}

    def states(self) -> dict[str, str]:
        return {} if self._supervisor is None else self._supervisor.states()

    # -- internals ------------------------------------------------------------------------------

    def _require_link(self) -> ProcessLink[ProcessorState, ProcessorCommand]:
        if self._link is None:
            raise RuntimeError("the processor process is not started")
        return self._link

    def _on_notice(self, process: str, message: Any) -> None:
        if isinstance(message, ProcessorFailed):
            self._request.on_failure(message)

    def _died(self, fault: Fault) -> None:
        if not self._stopping:
            self._request.on_death(f"processor process {fault.reason}")

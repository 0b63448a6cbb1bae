"""The processor process: a live image processor on its own core (``processing.multi_core``).

It attaches the frame ring as a latest-only reader (it never takes a slot, so it can never hold
the camera back or cost the saver a frame) and runs ``ProcessorLoop``, the same code a thread of
the main process runs when multi-core is off. Its desired state (``ProcessorState``: on or off,
planes per volume) comes on the latest-wins channel; the processor itself arrives as ordered
commands (``update_settings``/``pipe_message``, those made before the process started first),
and so do the saving of a run's results and their completion. A processor that raises is
reported with its traceback (``ProcessorFailed`` notice, and this process's log) and switched
off or rebuilt; the process itself goes on.

The main process supervises it apart from the rig (its own Supervisor): its death is reported
and handled like a processor that raised, and never stops an acquisition. It runs at a lower CPU
priority than the rig's processes, so on a busy machine it is the processor that skips frames.
"""

from __future__ import annotations

import os
from typing import Any

from lightsheet.processes.commands import ProcessorState
from lightsheet.processes.processor_loop import ProcessorLoop
from lightsheet.processes.status import ProcessorStatus
from lightsheet.processing.engine import OnError
from lightsheet.processing.processor_channel import MirrorMessage
from lightsheet.processing.results import ResultQueue, ResultRing, ResultRingSpec
from lightsheet.runtime.commands import CommandRefused
from lightsheet.runtime.ring import Ring, RingSpec
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

IDLE_WAIT_S = 0.001  # between polls of the frame ring when no new frame came
# Lower CPU priority than the rig's processes: when the cores are busy, the camera, dispatcher
# and saver go first and the processor skips frames (counted) instead of the saver falling behind.
NICENESS = 10
# A processor may take this long over one frame before its process counts as hung.
HEARTBEAT_TIMEOUT_S = 10.0


class ProcessorWorker(Worker):
    """Runs the live processor on frames read latest-only from the frame ring."""

    def __init__(
        self,
        frames: RingSpec,
        status: StatusBoard,
        initial: ProcessorState,
        backlog: list[MirrorMessage],
        results: ResultQueue | ResultRingSpec,
        on_error: OnError = "off",
        max_restarts: int = 3,
        **worker_kwargs: Any,
    ) -> None:
        worker_kwargs.setdefault("heartbeat_timeout_s", HEARTBEAT_TIMEOUT_S)
        super().__init__("processor", **worker_kwargs)
        self._frames_spec = frames
        self._board = status
        self._initial = initial
        self._backlog = list(backlog)
        self._results_spec = results
        self._on_error: OnError = on_error
        self._max_restarts = max_restarts

    def setup(self) -> None:
        try:
            os.nice(NICENESS)
        except OSError as exc:  # not allowed here: it runs at the rig's priority
            self.log.warning("could not lower the processor's priority: %s", exc)
        self._ring: Ring | None = self._frames_spec.attach()
        self._result_ring: ResultRing | None = None
        results = self._results_spec
        if isinstance(results, ResultRingSpec):
            self._result_ring = results.attach()
            sink: ResultQueue | ResultRing = self._result_ring
        else:
            results.producer_exits()
            sink = results
        self._loop = ProcessorLoop(
            self._ring, self._board.section(ProcessorStatus), sink, self.log, self.notify,
            self._on_error, self._max_restarts,
        )  # fmt: skip
        self._loop.set_state(self._initial)
        self._loop.apply_all(self._backlog)
        where = "results in shared memory" if self._result_ring else "results queued"
        self.log.info("processor ready: %s, %s", self._initial.summary(), where)

    def on_settings(self, settings: object) -> object:
        if not isinstance(settings, ProcessorState):
            raise CommandRefused(f"not a processor state: {type(settings).__name__}")
        self._loop.set_state(settings)
        return None

    def on_command(self, command: object) -> object:
        return self._loop.command(command)

    def step(self) -> None:
        if not self._loop.step():
            self.stop_event.wait(IDLE_WAIT_S)

    def teardown(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.close()
        for block in (getattr(self, "_ring", None), getattr(self, "_result_ring", None)):
            if block is not None:
                block.close()

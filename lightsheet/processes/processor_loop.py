"""The live processor's work, the same in its own process and in a thread of the main process.

It reads the frame ring as a latest-only reader (``Ring.read_latest``): it copies the newest
frame when there is one it has not seen, never takes a slot, never makes the camera or the
dispatcher wait. Frames that passed while it was busy are counted exactly, by frame id: between
two frames it processed of one run, every id in between; of a run that began while it was
running, every id before the first it processed; after the last, every id up to the run's end
marker when it sees it (and, for a saved run, up to the run's last frame, which the main process
gives it once the run is closed).

Results go to the sink (a queue or the result ring) and, for the run being saved, into
``/processed/<name>`` with a row for every frame of the run saying whether it was processed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lightsheet.processes.commands import (
    FinishProcessed,
    ProcessorFailed,
    ProcessorState,
    SaveProcessed,
)
from lightsheet.processes.frames import KIND_END, KIND_FRAME, frame_view
from lightsheet.processes.status import ProcessorStatus
from lightsheet.processing.engine import Failure, OnError, Output, ProcessorEngine
from lightsheet.processing.processor_channel import (
    ClearProcessor,
    MessageRefused,
    MirrorMessage,
    PipeMessage,
    ReplaceProcessor,
)
from lightsheet.processing.processors import saved_name, settings_of
from lightsheet.processing.results import Result
from lightsheet.runtime.commands import CommandRefused, log_cmd
from lightsheet.runtime.ring import Ring
from lightsheet.storage.processed import ProcessedSummary, ProcessedWriter

RATE_WINDOW_S = 1.0


class ResultSink(Protocol):
    def offer(self, result: Result) -> None: ...


@dataclass(frozen=True)
class FrameRead:
    image: np.ndarray  # a view of the reader's own buffer, valid until the next read
    frame_id: int
    run: int
    host_ts: float


@dataclass(frozen=True)
class RunEnd:
    run: int
    last_frame_id: int


class LatestFrames:
    """Latest-only reader of the frame ring; ``skipped`` counts frames it never got, by id."""

    def __init__(self, ring: Ring) -> None:
        self._ring = ring
        self._buffer = np.empty(ring.spec.slot_shape, ring.spec.dtype)
        self._commits = 0
        self._last: tuple[int, int] | None = None  # (run, frame id) of the newest frame taken
        self._ended: set[int] = set()
        self.skipped = 0

    def restart(self) -> None:
        """Count from the next frame on (processing was off: those frames were not skipped)."""
        self._last = None

    def poll(self) -> FrameRead | RunEnd | None:
        """The newest frame if it was not taken yet, a run's end marker, or None."""
        committed = self._ring.counters().committed
        if committed == self._commits:
            return None
        meta = self._ring.read_latest(self._buffer)
        if meta is None:
            return None  # being overwritten: the next poll gets a newer one
        self._commits = committed
        run, frame_id, kind = int(meta["run"]), int(meta["frame_id"]), int(meta["kind"])
        if kind == KIND_END:
            return self._end(run, frame_id)
        if kind != KIND_FRAME or run in self._ended:
            return None
        last = self._last
        if last is not None and last[0] == run:
            if frame_id <= last[1]:
                return None  # seen already
            self.skipped += frame_id - last[1] - 1
        elif last is not None:
            self.skipped += frame_id  # a run that began while we ran: its frames from id 0
        self._last = (run, frame_id)
        image = frame_view(self._buffer, int(meta["height"]), int(meta["width"]))
        image.flags.writeable = False  # the processor's input, not its scratch space
        return FrameRead(image, frame_id, run, float(meta["host_ts"]))

    def _end(self, run: int, last_frame_id: int) -> RunEnd | None:
        if run in self._ended:
            return None
        self._ended.add(run)
        last = self._last
        if last is not None and last[0] == run:
            self.skipped += max(last_frame_id - last[1], 0)
        elif last is not None:
            self.skipped += last_frame_id + 1  # none of that run's frames was processed
        return RunEnd(run, last_frame_id)


class ProcessorLoop:
    """Reads frames, runs the engine, hands results on; applies the processor's commands."""

    def __init__(
        self,
        ring: Ring,
        status: ProcessorStatus,
        sink: ResultSink,
        log: logging.Logger,
        report: Callable[[ProcessorFailed], None],
        on_error: OnError = "off",
        max_restarts: int = 3,
    ) -> None:
        self.frames = LatestFrames(ring)
        self.engine = ProcessorEngine(on_error, max_restarts)
        self.state = ProcessorState(False, 1)
        self._status = status
        self._sink = sink
        self._log = log
        self._report = report
        self._save: SaveProcessed | None = None
        self._writer: ProcessedWriter | None = None
        self._seq = 0
        self._rate = (0, time.monotonic())
        status.reset()

    # -- commands -----------------------------------------------------------------------------

    def set_state(self, state: ProcessorState) -> None:
        if state.enabled and not self.state.enabled:
            self.frames.restart()
        self.state = state
        self._show_state()

    def command(self, command: object) -> object:
        """Apply one command in order; CommandRefused (with the reason) when it cannot be."""
        if isinstance(command, SaveProcessed):
            self._close_writer(None)
            self._save = command
            return None
        if isinstance(command, FinishProcessed):
            return self._finish(command)
        if not isinstance(command, (ReplaceProcessor, PipeMessage, ClearProcessor)):
            raise CommandRefused(f"unknown processor command {type(command).__name__}")
        try:
            failure = self.engine.apply(command)
        except MessageRefused as exc:
            raise CommandRefused(str(exc)) from None
        if failure is not None:
            self._failed(failure)
        self._status.version = self.engine.version
        self._show_state()
        return None

    def apply_all(self, messages: list[MirrorMessage]) -> None:
        """Messages made before this loop existed, in order; a refused one is logged."""
        for message in messages:
            log_cmd(self._log, "applying %s (made before the processor started)",
                    message.summary())  # fmt: skip
            try:
                self.command(message)
            except CommandRefused as exc:
                self._log.warning("%s refused: %s", message.summary(), exc)

    # -- frames -------------------------------------------------------------------------------

    def step(self) -> bool:
        """Process the newest frame if there is a new one; True when something was done."""
        if not (self.state.enabled and self.engine.active):
            return False
        item = self.frames.poll()
        if item is None:
            return False
        if isinstance(item, RunEnd):
            self._emit(*self.engine.end_open_volume())
            self._status.skipped = self.frames.skipped
            return True
        saving = self._save is not None and self._save.run == item.run
        planes = self._save.planes if saving and self._save is not None else self.state.planes
        outputs, failure = self.engine.frame(item.image, item.frame_id, item.run, planes,
                                             item.host_ts)  # fmt: skip
        self._emit(outputs, failure)
        if saving:
            self._to_writer(lambda w: w.frame(item.frame_id, processed=failure is None))
        self._count(item.frame_id)
        return True

    def close(self) -> None:
        """Complete the files of a run being saved (a run cut off: its end is unknown)."""
        self._close_writer(None)

    # -- internals ------------------------------------------------------------------------------

    def _emit(self, outputs: list[Output], failure: Failure | None) -> None:
        sent: list[Output] = []
        for output in outputs:
            result = Result(output.data, self._seq, output.frame_id, output.run, output.volume,
                            output.version, output.frames, output.per_volume,
                            output.frame_host_ts, time.time())  # fmt: skip
            try:
                self._sink.offer(result)
            except ValueError as exc:  # too large for the result ring, or not an image
                failure = failure or self.engine.fail(f"result #{self._seq}", f"{exc}\n")
                break
            sent.append(output)
            self._seq += 1
            self._status.results = self._seq
            self._status.latency_ms = (result.done_ts - result.frame_host_ts) * 1000
        save = self._save
        kept = [o for o in sent if save is not None and o.run == save.run]
        if kept:
            self._to_writer(lambda w: [w.result(o.data, o.frame_id, o.volume, o.version,
                                                o.frames) for o in kept])  # fmt: skip
        if failure is not None:
            self._failed(failure)

    def _failed(self, failure: Failure) -> None:
        self._log.error("%s\n%s", failure.message, failure.traceback.rstrip())
        self._status.errors = self.engine.errors
        self._status.restarts = self.engine.restarts
        self._show_state()
        self._report(failure)

    def _count(self, frame_id: int) -> None:
        status = self._status
        status.frames += 1
        status.last_frame_id = frame_id
        status.skipped = self.frames.skipped
        count, since = self._rate
        now = time.monotonic()
        if now - since >= RATE_WINDOW_S:
            status.fps = (count + 1) / (now - since)
            self._rate = (0, now)
        else:
            self._rate = (count + 1, since)
        if self._writer is not None:
            self._to_writer(lambda w: w.tick())

    def _show_state(self) -> None:
        engine = self.engine
        running = self.state.enabled and engine.active
        self._status.state = 2 if engine.failed else (1 if running else 0)

    def _saving_writer(self) -> ProcessedWriter:
        save = self._save
        assert save is not None
        if self._writer is None:
            processor = self.engine.remote.processor
            name = saved_name(processor) if processor is not None else "processor"
            settings = settings_of(processor) if processor is not None else {}
            attrs = {"processor": self.engine.remote.source, "run": save.run,
                     "settings": repr(settings)}  # fmt: skip
            self._writer = ProcessedWriter(save.out_dir, name, save.planes, save.chunk_bytes,
                                           save.chunk_seconds, attrs)  # fmt: skip
            self._log.info("saving %s results of run %d into %s", name, save.run, save.out_dir)
        return self._writer

    def _to_writer(self, call: Callable[[ProcessedWriter], object]) -> None:
        """Hand something to the run's writer; a disk that fails stops saving, not processing."""
        save = self._save
        if save is None:
            return  # saving stopped (a failed disk) earlier in this step
        try:
            call(self._saving_writer())
        except (OSError, ValueError) as exc:
            self._writer, self._save = None, None
            text = f"{type(exc).__name__}: {exc}\n"
            self._failed(Failure(f"saving the results of run {save.run}", text,
                                 self.engine.version, "saving stopped"))  # fmt: skip

    def _finish(self, command: FinishProcessed) -> ProcessedSummary | None:
        save = self._save
        if save is None or save.run != command.run:
            return None
        if self.engine.active and self.engine.open_run == command.run:
            self._emit(*self.engine.end_open_volume())
        if self._writer is None and self.engine.remote.processor is not None:
            self._to_writer(lambda w: None)  # a run with no frame processed records its frames
        return self._close_writer(command.frames_acquired)

    def _close_writer(self, frames_acquired: int | None) -> ProcessedSummary | None:
        writer, self._writer = self._writer, None
        self._save = None
        if writer is None:
            return None
        try:
            summary = writer.finish(frames_acquired)
        except OSError as exc:
            self._log.error("could not complete the processed results' files: %s", exc)
            return None
        self._log.info("processed results of the run saved: %s", summary)
        return summary

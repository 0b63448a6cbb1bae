"""The session's live processor: which one, where it runs, its messages, results and saving.

``Session.processing`` is this object. It holds the *local* processor (the one the operator's
code and the GUI change) and keeps the running copy current through one ordered channel:
``update_settings()`` (the whole local object replaces the running copy) and
``pipe_message(name, args)`` (a method call or attribute set on the running copy only); see
``lightsheet.processing.processor_channel`` for when to use which. Both work at any time: made
before the processor runs, they are applied first when it starts, in order.

Where it runs is ``multi_core``: its own process, started through the Pipeline and supervised
apart from the rig, or a thread of this process; the same loop runs in both. No processor set
means no thread and no process. A processor that raises is reported (``take_events``, its log)
and switched off or rebuilt (``on_error``); a processor process that dies is handled the same
way, and the acquisition goes on untouched either way.

With ``save``, ``begin_run`` arms the saving of a run's results before its first frame, and
``finish_run`` completes them once the run's files are closed and maps them into dataset.h5.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lightsheet.app.errors import SessionConfigError, SessionError
from lightsheet.app.pipeline import Pipeline
from lightsheet.app.processor_process import ProcessorProcess, ProcessorRequest
from lightsheet.app.processor_thread import ProcessorThread
from lightsheet.app.result_reader import ProcessingEvent, ProcessingStats, ResultReader
from lightsheet.config import ProcessingConfig, SavingConfig
from lightsheet.processes.commands import (
    FinishProcessed,
    ProcessorFailed,
    ProcessorState,
    SaveProcessed,
)
from lightsheet.processes.status import ProcessorStatus
from lightsheet.processing.processor_channel import MirrorMessage, SettingsMirror
from lightsheet.processing.processors import (
    ImageProcessor,
    ProcessorSpecError,
    coerce_setting,
    create_processor,
    settings_of,
)
from lightsheet.processing.results import Result
from lightsheet.runtime.commands import CommandFailed, log_cmd
from lightsheet.storage.processed import ProcessedSummary, index_processed

log = logging.getLogger("lightsheet.processing")

Host = ProcessorProcess | ProcessorThread
STATE_NAMES = {0: "off", 1: "running", 2: "switched off"}
SAVE_ACK_S = 5.0
FINISH_ACK_S = 30.0
EVENTS_KEPT = 200


class LiveProcessing:
    """The live processor of one session (see the module docstring)."""

    def __init__(self, config: ProcessingConfig) -> None:
        self.config = config
        self._mirror = SettingsMirror()
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()  # a result being read is never closed under the reader
        self._pipeline: Pipeline | None = None
        self._planes: Callable[[], int] = lambda: 1
        self._host: Host | None = None
        self._outbox: list[MirrorMessage] | None = None  # messages made while a host starts
        self._reader: ResultReader | None = None
        self._enabled = True
        self._sent: ProcessorState | None = None
        self._answers: list[tuple[str, Any]] = []
        self._events: collections.deque[ProcessingEvent] = collections.deque(maxlen=EVENTS_KEPT)
        self._host_restarts = 0
        self._configured = False  # the config's processor was built (or one was set)
        self._saving: int | None = None  # the run whose results the processor saves

    # -- the processor ------------------------------------------------------------------------

    @property
    def processor(self) -> ImageProcessor | None:
        """The local copy: change it, then ``update_settings()``."""
        return self._mirror.processor

    @property
    def version(self) -> int:
        return self._mirror.version

    def prepare(self) -> None:
        """Build the config's processor (once); SessionConfigError when it cannot be."""
        if not self._configured and self.config.name:
            self.set_processor(self.config.name, self.config.options)
        self._configured = True

    def set_processor(self, processor: str | ImageProcessor,
                      options: Mapping[str, object] | None = None) -> ImageProcessor:  # fmt: skip
        """Run ``processor`` (a name, or an object whose class can be imported by name)."""
        try:
            if isinstance(processor, str):
                local, source = create_processor(processor, options), processor
            else:
                local = processor
                source = f"{type(local).__module__}:{type(local).__qualname__}"
                if options:
                    for key, value in options.items():
                        setattr(local, key, coerce_setting(local, key, value))
            with self._lock:
                message = self._mirror.set(local, source)
        except ProcessorSpecError as exc:
            raise SessionConfigError(f"processing: {exc}") from None
        self._configured = True
        log.info("processor set: %r", local)
        self._send(message)
        return local

    def clear_processor(self) -> None:
        """No processor: its thread or process stops."""
        with self._lock:
            self._mirror.clear()
            self._configured = True
        self._stop_host()

    def update_settings(self) -> None:
        """Mirror the whole local object to the running copy (its state starts over)."""
        with self._lock:
            message = self._wrap(self._mirror.update_settings)
        self._send(message)

    def pipe_message(self, name: str, args: object = ()) -> None:
        """Call method ``name(*args)`` or set attribute ``name`` on the running copy only."""
        with self._lock:
            message = self._wrap(lambda: self._mirror.pipe_message(name, args))
        self._send(message)

    def set_setting(self, name: str, value: object) -> None:
        """Change one setting on both copies (the GUI's way: the running state is kept)."""
        local = self._mirror.processor
        if local is None:
            raise SessionError("no processor is set")
        converted = self._wrap(lambda: coerce_setting(local, name, value))
        setattr(local, name, converted)
        self.pipe_message(name, (converted,))

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)
        self.sync()

    def update_config(self, **changes: Any) -> None:
        """Change keys of the ``processing`` section (``multi_core=True``, ``save=False``...):
        where it runs or how results return restarts the processor with its messages."""
        self.configure(self.config.updated(**changes))

    def configure(self, config: ProcessingConfig) -> None:
        """A new ``processing`` section: the processor, its settings or its placement.

        SessionConfigError, with nothing changed, when the processor or a setting is refused.
        """
        old, local = self.config, self._mirror.processor
        if old.name != config.name:
            if config.name:
                self.set_processor(config.name, config.options)
            else:
                self.clear_processor()
        elif config.name and local is not None and old.options != config.options:
            changed = {k: v for k, v in config.options.items() if old.options.get(k) != v}
            try:
                checked = {k: coerce_setting(local, k, v) for k, v in changed.items()}
            except ProcessorSpecError as exc:
                raise SessionConfigError(f"processing.options: {exc}") from None
            for key, value in checked.items():
                self.set_setting(key, value)
        self.config = config
        placement = ("multi_core", "shared_memory", "queue_size", "max_result_mb", "on_error",
                     "max_restarts")  # fmt: skip
        if any(getattr(old, key) != getattr(config, key) for key in placement):
            self._restart_host()

    # -- with the rig -----------------------------------------------------------------------------

    def attach(self, pipeline: Pipeline, planes: Callable[[], int]) -> None:
        """The rig runs: start the processor if one is set; ``planes()`` follows the mode."""
        self._pipeline, self._planes = pipeline, planes
        self._host_restarts = 0
        self._start_host()

    def detach(self) -> None:
        """The rig stops: stop the processor first (a run being saved gets its files closed)."""
        self._stop_host()
        self._pipeline = None

    def sync(self) -> None:
        """Send the desired state when it changed (planes follow the rig's mode)."""
        with self._lock:
            host = self._host
            if host is None or not host.alive:
                return
            state = ProcessorState(self._enabled, max(self._planes(), 1))
            if state != self._sent:
                host.set_state(state)
                self._sent = state
        self._sweep_answers()

    # -- what the GUI reads -----------------------------------------------------------------------

    def latest_result(self) -> Result | None:
        """The newest result not returned before (a copy), or None."""
        self.sync()
        with self._read_lock:
            reader = self._reader
            return None if reader is None else reader.latest()

    def metric_history(self) -> list[tuple[int, int, float]]:
        """(run, frame id, value) of recent scalar results (a focus metric), oldest first."""
        reader = self._reader
        return [] if reader is None else list(reader.history)

    def take_events(self) -> list[ProcessingEvent]:
        """Errors and refusals since the last call (a processor's traceback among them)."""
        self._sweep_answers()
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def stats(self) -> ProcessingStats:
        self.sync()
        host, reader, pipeline = self._host, self._reader, self._pipeline
        name = self._mirror.source
        if pipeline is None or host is None:
            state = "none" if not name else "starting" if self._outbox is not None else "off"
            return ProcessingStats(name, "", state, self._mirror.version, 0, 0, 0.0, 0, 0, 0,
                                   0, 0, 0.0)  # fmt: skip
        status = pipeline.status.section(ProcessorStatus)
        state = "died" if not host.alive else STATE_NAMES.get(status.state, "off")
        return ProcessingStats(
            name, host.where, state, status.version, status.frames, status.skipped, status.fps,
            status.results, reader.dropped if reader else 0, reader.skipped if reader else 0,
            status.errors, status.restarts, status.latency_ms,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """For a run's metadata: what processed its frames."""
        local = self._mirror.processor
        return {
            "processor": self._mirror.source or None,
            "settings": settings_of(local) if local is not None else {},
            "settings_version": self._mirror.version,
            "multi_core": self.config.multi_core,
            "shared_memory": self.config.shared_memory,
            "save": self.config.save,
            "on_error": self.config.on_error,
        }

    # -- saving -------------------------------------------------------------------------------

    def begin_run(self, run: int, folder: Path, planes: int, saving: SavingConfig) -> None:
        """Before run ``run``'s first frame: save its results too, when ``save`` is on."""
        self.sync()
        host = self._host
        if not self.config.save or host is None or not host.alive:
            return
        command = SaveProcessed(run, str(folder), planes, saving.processed_chunk_bytes(),
                                saving.chunk_seconds)  # fmt: skip
        self._saving = run
        try:
            host.call(command, SAVE_ACK_S)
        except CommandFailed as exc:
            self._note("error", f"processed results of run {run} may not be saved: {exc}")

    def finish_run(self, run: int, frames_acquired: int | None,
                   folder: Path) -> dict[str, ProcessedSummary]:  # fmt: skip
        """Run ``run``'s files are closed: complete its processed results, map them into
        dataset.h5; what was saved, by name (empty when nothing was)."""
        host, saving, self._saving = self._host, self._saving, None
        if host is not None and host.alive and frames_acquired is not None and saving == run:
            try:
                host.call(FinishProcessed(run, frames_acquired), FINISH_ACK_S)
            except CommandFailed as exc:
                self._note("error", f"processed results of run {run}: {exc}")
        try:
            return index_processed(folder)
        except (OSError, ValueError) as exc:
            self._note("error", f"could not map the processed results into dataset.h5: {exc}")
            return {}

    # -- hosts --------------------------------------------------------------------------------

    def _start_host(self) -> None:
        with self._lock:
            pipeline = self._pipeline
            if pipeline is None or self._mirror.processor is None or self._host is not None:
                return
            if self._outbox is not None:
                return  # another thread is starting it
            config = self.config
            self._sent = ProcessorState(self._enabled, max(self._planes(), 1))
            mb = config.max_result_mb  # default: a whole frame of 4-byte pixels
            slot_bytes = int(mb * 2**20) if mb else 4 * pipeline.geometry.sensor_pixels
            request = ProcessorRequest(
                self._sent, self._mirror.replay(), config.shared_memory, slot_bytes,
                config.queue_size, config.on_error, config.max_restarts, self._on_failure,
                self._on_death,
            )  # fmt: skip
            self._outbox = []
        host: Host | None = None
        try:
            if config.multi_core:
                host = pipeline.start_processor(request)
            else:
                host = ProcessorThread(request, pipeline.frames_spec, pipeline.status)
                host.start()
        except Exception as exc:
            log.exception("the processor could not start")
            self._note("error", f"the processor could not start: {exc}")
        with self._lock:
            outbox, self._outbox = self._outbox or [], None
            if host is None:
                return
            self._host = host
            with self._read_lock:
                self._reader = ResultReader(host.results)
            for message in outbox:
                self._answers.append((message.summary(), host.post(message)))

    def _stop_host(self) -> None:
        with self._lock:
            host, self._host, self._sent = self._host, None, None
        with self._read_lock:
            self._reader = None
        if isinstance(host, ProcessorProcess) and self._pipeline is not None:
            self._pipeline.stop_processor()
        elif host is not None:
            host.stop()

    def _restart_host(self) -> None:
        self._stop_host()
        self._start_host()

    def _send(self, message: MirrorMessage) -> None:
        with self._lock:
            if self._outbox is not None:
                self._outbox.append(message)
                return
            host = self._host
            if host is not None and host.alive:
                self._answers.append((message.summary(), host.post(message)))
                return
            if self._pipeline is None:
                log_cmd(log, "kept for when the processor starts: %s", message.summary())
                return
        self._restart_host()  # none yet, or a dead one: a new one gets every message in order

    def _on_failure(self, failure: ProcessorFailed) -> None:
        self._note("error", failure.message, failure.traceback)

    def _on_death(self, reason: str) -> None:
        """The processor's process died (or its thread failed): the rig goes on."""
        config = self.config
        restart = config.on_error == "restart" and self._host_restarts < config.max_restarts
        self._note("error", f"{reason}; " + ("starting it again" if restart else "switched off"))
        if restart and self._pipeline is not None:
            self._host_restarts += 1
            threading.Thread(target=self._restart_host, name="processor-restart",
                             daemon=True).start()  # fmt: skip

    def _sweep_answers(self) -> None:
        with self._lock:
            pending = [(what, a) for what, a in self._answers if a.done]
            self._answers = [(what, a) for what, a in self._answers if not a.done]
        for what, answer in pending:
            try:
                answer.wait(0)
            except CommandFailed as exc:
                self._note("warning", f"{what}: {exc.reason}")

    def _note(self, level: str, text: str, traceback: str = "") -> None:
        (log.error if level == "error" else log.warning)("%s", text)
        with self._lock:
            self._events.append(ProcessingEvent(level, text, traceback))

    @staticmethod
    def _wrap(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ProcessorSpecError as exc:
            raise SessionError(str(exc)) from None

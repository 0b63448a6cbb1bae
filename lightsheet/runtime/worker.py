"""Worker: the base of every child process — run loop, settings inbox, heartbeat, own log file.

A worker is built in the main process and started with the ``spawn`` context (so it must be
picklable). In the child it runs ``setup``, then ``on_settings``/``step`` until its stop event is
set, and ``teardown`` on every way out: a normal stop, an exception, SIGTERM, or the death of the
main process. That last case is watched by a thread waiting on the parent's sentinel, because a
SIGKILLed main process runs no clean-up of its own: the child drives its hardware to a safe state
and exits by itself within ``ORPHAN_TEARDOWN_S``.

What the Supervisor needs from a child lives in small shared fields rather than messages, so it can
read them even when the child is hung or dead: the phase, the heartbeat (``time.monotonic()`` of
the last loop iteration; CLOCK_MONOTONIC is system-wide on the platforms we run on) and a one-line
reason when the child failed ("ValueError: ... (in step)").
"""

from __future__ import annotations

import abc
import logging
import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait as wait_ready
from pathlib import Path
from typing import Any, TypeVar

from setproctitle import setproctitle

from lightsheet.runtime import reaping
from lightsheet.runtime.channels import LoggedQueue, SettingsChannel
from lightsheet.runtime.commands import (
    DEFERRED,
    CommandRefused,
    Envelope,
    MessageKind,
    Notice,
    Reply,
    log_cmd,
)
from lightsheet.runtime.ctrl_c import ctrl_c_held
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.lifecycle import Phase, WorkerFailure, WorkerTerminated
from lightsheet.runtime.logs import process_logger, setup_process_logging
from lightsheet.runtime.long_call import LONG_CALL_LIMIT_S, beating_while

ORPHAN_TEARDOWN_S = 1.5  # teardown budget after the main process died (the issue asks < 2 s)
OUTBOX_FLUSH_S = 0.5  # at exit, replies still queued get this long to reach the pipe
EXIT_FAILED = 1
EXIT_ORPHAN_TIMEOUT = 70  # teardown after the main process died did not finish in time
_REASON_BYTES = 512

__all__ = ["Phase", "Worker", "WorkerFailure", "WorkerTerminated"]

T = TypeVar("T")


class Worker(abc.ABC):
    """Subclass it and implement ``step`` (and ``setup``/``on_settings``/``teardown`` as needed).

    The timeouts are what this worker needs; None means the Supervisor's default. ``step`` must
    return well within the heartbeat timeout; a long operation that makes progress can call
    ``beat()``.
    """

    def __init__(
        self,
        name: str,
        log_dir: str | Path,
        log_level: str = "INFO",
        heartbeat_timeout_s: float | None = None,
        setup_timeout_s: float | None = None,
        stop_timeout_s: float | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self.log_dir = Path(log_dir)
        self.log_level = log_level
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.setup_timeout_s = setup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.stop_event = LoggedEvent(f"{name}.stop")
        self.settings = SettingsChannel(f"{name}.settings")
        self.commands = LoggedQueue(f"{name}.commands")  # one-shot commands, in order
        self.outbox = LoggedQueue(f"{name}.outbox")  # replies and notices to the main process
        # A command the child never reads (it stopped first) must not keep this process from
        # exiting on a full pipe; commands in flight when it exits are worthless anyway. Only
        # this side's copy: the child's is rebuilt when it unpickles.
        self.commands.cancel_join_thread()
        self.log: logging.Logger = process_logger(name)
        self.__beat = ctx.RawValue("d", 0.0)
        self.__phase = ctx.RawValue("i", Phase.NEW)
        self.__reason = ctx.RawArray("c", _REASON_BYTES)
        self.__process: Any = None
        self.__started_at: float | None = None
        self.__current: tuple[int, MessageKind] = (0, "state")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_Worker__process"] = None  # the child has no use for its own process handle
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid} {self.phase.name.lower()}>"

    # -- hooks, run in the child ---------------------------------------------------------------

    def setup(self) -> None:  # noqa: B027 (optional hook: nothing to open by default)
        """Open devices, attach shared memory. Runs once before the loop."""

    @abc.abstractmethod
    def step(self) -> None:
        """One short iteration of the work; wait on something with a timeout rather than spin."""

    def on_settings(self, settings: object) -> object:
        """Apply the newest desired state without a restart; called between steps.

        The return value goes back to the sender with the acknowledgement; raise
        ``CommandRefused`` to refuse (the process goes on), return ``DEFERRED`` to answer later
        with :meth:`reply`.
        """
        raise CommandRefused(f"{self.name} takes no settings")

    def on_command(self, command: object) -> object:
        """Apply one one-shot command (same return rules as :meth:`on_settings`)."""
        raise CommandRefused(f"{self.name} takes no commands ({type(command).__name__})")

    def teardown(self) -> None:  # noqa: B027 (optional hook: nothing to release by default)
        """Put hardware in a safe state, release shared memory. Always runs, even after a failure
        in setup, so it must cope with whatever setup did not get to."""

    def beat(self) -> None:
        """Tell the Supervisor this process is alive (the loop does it before every step)."""
        self.__beat.value = time.monotonic()

    def beating_while(self, call: Callable[[], T], limit_s: float = LONG_CALL_LIMIT_S) -> T:
        """Run a slow call with the heartbeat going on (see ``runtime.long_call``)."""
        return beating_while(call, self.beat, limit_s)

    @property
    def current_seq(self) -> tuple[int, MessageKind]:
        """The number and kind of the message being handled (for a later :meth:`reply`)."""
        return self.__current

    def reply(
        self, seq: tuple[int, MessageKind], value: object = None, refused: str | None = None
    ) -> None:
        """Answer message ``seq`` (from :attr:`current_seq`) whose handler returned DEFERRED."""
        number, kind = seq
        answer = Reply(number, kind, refused is None, value, refused or "")
        log_cmd(self.log, "answered %s", answer)  # before it leaves: the log never lags the reply
        self.outbox.put(answer)

    def notify(self, message: object) -> None:
        """Tell the main process something it did not ask for (e.g. a run's files are closed)."""
        notice = Notice(message)
        log_cmd(self.log, "sent %s", notice)
        self.outbox.put(notice)

    # -- main-process API ----------------------------------------------------------------------

    def start(self) -> None:
        if self.__process is not None:
            raise RuntimeError(f"worker {self.name} was already started")
        process = mp.get_context("spawn").Process(
            target=self._run_in_child, name=self.name, daemon=True
        )
        self.__started_at = time.monotonic()
        # Ctrl-C must neither cut the child's start-up data short nor hit an interpreter that
        # is still importing (the main process decides): see runtime.ctrl_c.
        with ctrl_c_held():
            reaping.start(process)
            self.__process = process  # known before a held Ctrl-C is raised: it gets stopped

    def request_stop(self) -> None:
        self.stop_event.set()

    def send_settings(self, settings: object) -> None:
        """Put a desired state on the latest-wins channel (an ``Envelope`` is acknowledged)."""
        self.settings.put(settings)

    def send_command(self, envelope: Envelope) -> None:
        """Queue a one-shot command; it is applied after those queued before it."""
        self.commands.put(envelope)

    @property
    def started(self) -> bool:
        return self.__process is not None

    @property
    def pid(self) -> int | None:
        return None if self.__process is None else self.__process.pid

    @property
    def sentinel(self) -> int:
        return int(self._process().sentinel)

    @property
    def exitcode(self) -> int | None:
        return None if self.__process is None else reaping.exitcode(self.__process)

    def is_alive(self) -> bool:
        return self.__process is not None and reaping.is_alive(self.__process)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the process to end; True when it has (any thread may ask: runtime.reaping)."""
        return reaping.join(self._process(), timeout)

    def terminate(self) -> None:
        """SIGTERM: the child unwinds its setup or step and still runs teardown."""
        reaping.send_signal(self._process(), kill=False)

    def kill(self) -> None:
        reaping.send_signal(self._process(), kill=True)

    @property
    def phase(self) -> Phase:
        return Phase(self.__phase.value)

    @property
    def started_at(self) -> float | None:
        """``time.monotonic()`` when start() was called."""
        return self.__started_at

    @property
    def heartbeat_age(self) -> float:
        """Seconds since the child's last heartbeat; infinite before its first."""
        beat = self.__beat.value
        return math.inf if beat == 0.0 else time.monotonic() - beat

    @property
    def failure(self) -> str | None:
        """The one-line reason the child failed ("raised ValueError: ... (in step)", or a
        ``WorkerFailure``'s own message), if it did."""
        text = self.__reason.value.decode("utf-8", errors="replace")
        return text or None

    def _process(self) -> Any:
        if self.__process is None:
            raise RuntimeError(f"worker {self.name} has not been started")
        return self.__process

    # -- the child -----------------------------------------------------------------------------

    def _run_in_child(self) -> None:
        # Ctrl-C reaches every process of the terminal's group; the main process decides.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by start()
        # Named for its role, so an operator finds it in ps, top or a task manager.
        setproctitle(f"lightsheet: {self.name}")
        self.log = setup_process_logging(self.name, self.log_dir, self.log_level)
        # Replies may sit unread in the pipe (a large one, a main process gone): never let them
        # keep this process from exiting (see __exit).
        self.outbox.cancel_join_thread()
        self.__orphaned = threading.Event()
        self.__torn_down = threading.Event()
        self.__stage = "start"
        self.__unwinding = False  # once True, SIGTERM no longer interrupts: teardown is near
        threading.Thread(target=self.__watch_parent, name="parent-watch", daemon=True).start()
        self.log.info("started, pid %d", os.getpid())
        try:
            failed, terminated = self.__run_until_stopped(), False
        except WorkerTerminated:  # raised at most once: the handler then ignores SIGTERM
            self.log.warning("terminated (SIGTERM) in %s", self.__stage)
            failed, terminated = self.failure is not None, True
        self.__unwinding = True
        self.__enter(Phase.STOPPING, "teardown")
        try:
            self.teardown()
        except BaseException as exc:
            if failed:
                self.log.exception("teardown raised as well")
            else:
                failed = True
                self.__record_failure(exc)
        self.__enter(Phase.DONE, "exit")
        self.__torn_down.set()
        self.outbox.flush(OUTBOX_FLUSH_S)
        self.__exit(failed, terminated)

    def __run_until_stopped(self) -> bool:
        """Setup, then the loop; True when a hook raised (logged and recorded)."""
        try:
            signal.signal(signal.SIGTERM, self.__on_sigterm)
            self.__enter(Phase.SETUP, "setup")
            self.setup()
            self.__enter(Phase.RUNNING, "loop")
            self.__loop()
            return False
        except WorkerTerminated:
            raise
        except BaseException as exc:
            self.__unwinding = True
            self.__record_failure(exc)
            return True

    def __loop(self) -> None:
        while not self.__orphaned.is_set() and not self.stop_event.is_set():
            self.beat()
            if self.settings.poll():
                self.__apply_settings()
            self.__apply_commands()
            self.__stage = "step"
            self.step()
        if not self.__orphaned.is_set():
            self.log.info("stop requested")

    def __apply_settings(self) -> None:
        try:
            value = self.settings.take()
        except queue.Empty:
            return  # lost with a sender that died mid-put; the channel logged it
        self.__stage = "on_settings"
        if isinstance(value, Envelope):
            self.__dispatch(value, self.on_settings)
        else:  # a bare value from a sender that wants no answer
            self.on_settings(value)

    def __apply_commands(self) -> None:
        while True:
            try:
                envelope = self.commands.get_nowait()
            except queue.Empty:
                return
            self.__stage = "on_command"
            self.__dispatch(envelope, self.on_command)

    def __dispatch(self, envelope: Envelope, handler: Any) -> None:
        """Apply one numbered message and answer it; a refusal is an answer, not a failure."""
        log_cmd(self.log, "received %s", envelope)
        self.__current = (envelope.seq, envelope.kind)
        try:
            value = handler(envelope.message)
        except CommandRefused as exc:
            self.reply(self.__current, refused=str(exc))
            return
        if value is not DEFERRED:
            self.reply(self.__current, value)

    def __enter(self, phase: Phase, stage: str) -> None:
        """Beat, then the phase: the monitor saw a new phase with the old beat as a hang."""
        self.__stage = stage
        self.beat()
        self.__phase.value = phase

    def __record_failure(self, exc: BaseException) -> None:
        if isinstance(exc, WorkerFailure):
            self.log.error("%s: %s", self.__stage, exc)
            text = " ".join(str(exc).split())
        else:
            self.log.error("%s raised %s: %s", self.__stage, type(exc).__name__, exc, exc_info=exc)
            text = " ".join(f"raised {type(exc).__name__}: {exc} (in {self.__stage})".split())
        data = text.encode("utf-8")[: _REASON_BYTES - 1]
        self.__reason.value = data.decode("utf-8", errors="ignore").encode("utf-8")

    def __exit(self, failed: bool, terminated: bool) -> None:
        code = EXIT_FAILED if failed else 0
        if self.__orphaned.is_set():
            self.log.info("exiting after the main process died")
            logging.shutdown()
            os._exit(code)  # nobody will join us; skip exit handlers that could wait on them
        if terminated:
            self.log.info("exiting by SIGTERM")
            logging.shutdown()
            # Die of the signal itself, so the exit code tells the Supervisor what happened.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        self.log.info("exiting with code %d", code)
        logging.shutdown()
        # Nothing after teardown may delay the exit (an unread queue, a non-daemon thread).
        os._exit(code)

    def __on_sigterm(self, signum: int, frame: object) -> None:
        if not self.__unwinding:
            self.__unwinding = True  # a second SIGTERM must not interrupt the teardown
            raise WorkerTerminated
        self.log.warning("SIGTERM during %s ignored: already shutting down", self.__stage)

    def __watch_parent(self) -> None:
        parent = mp.parent_process()
        if parent is None:
            return
        wait_ready([parent.sentinel])
        self.__orphaned.set()
        self.log.error("main process (pid %s) died: tearing down", parent.pid)
        # Wake a step that waits on the stop event; in a helper thread, because a lock the dead
        # parent held could block it, and this thread must still enforce the deadline below.
        threading.Thread(target=self.stop_event.set, name="orphan-stop", daemon=True).start()
        if self.__torn_down.wait(ORPHAN_TEARDOWN_S):
            return
        self.log.error(
            "not torn down %.1f s after the main process died (stuck in %s); exiting now",
            ORPHAN_TEARDOWN_S,
            self.__stage,
        )
        os._exit(EXIT_ORPHAN_TIMEOUT)

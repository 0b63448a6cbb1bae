"""The main process's handle on one child: send a state or a command, wait for its answer.

``ProcessLink[StateT, CommandT]`` numbers every message, sends desired states on the child's
latest-wins settings channel and one-shot commands on its ordered queue, and waits for the reply
with the same number, raising ``CommandFailed`` with the child's own reason when it refuses, or
when it dies, another process fails, or the answer does not come in time. A reader thread per
link takes replies and notices off the child's outbox; notices go to ``on_notice``.

Every send and every answer is a CMD line in the main process's log, and the child logs what it
received and how it answered in its own, so the handshake reads from both ends.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from lightsheet.runtime.commands import (
    CommandFailed,
    Envelope,
    MessageKind,
    Notice,
    Reply,
    log_cmd,
)
from lightsheet.runtime.worker import Worker

StateT = TypeVar("StateT")
CommandT = TypeVar("CommandT")
ACK_TIMEOUT_S = 15.0
_POLL_S = 0.05
_log = logging.getLogger("lightsheet.runtime.link")


class Awaited:
    """A reply that another thread delivers (a link's router, a processor thread)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._reply: Reply | None = None

    def resolve(self, reply: Reply) -> None:
        self._reply = reply
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _value(self, process: str, what: str) -> Any:
        """The reply's value once it came; CommandFailed when it is a refusal."""
        reply = self._reply
        assert reply is not None
        if not reply.ok:
            raise CommandFailed(process, f"{what} refused: {reply.reason}")
        return reply.value


class Pending(Awaited):
    """One message awaiting its reply from a worker process."""

    def __init__(self, link: ProcessLink[Any, Any], seq: int, kind: MessageKind, what: str):
        super().__init__()
        self.link = link
        self.seq = seq
        self.kind = kind
        self.what = what
        self.sent_at = time.monotonic()

    def wait(self, timeout_s: float = ACK_TIMEOUT_S) -> Any:
        """The reply's value; CommandFailed on a refusal, a fault or no answer in time."""
        link = self.link
        deadline = time.monotonic() + timeout_s
        while not self._done.wait(_POLL_S):
            problem = link.problem()
            if problem is not None:
                raise CommandFailed(link.name, f"{self.what}: {problem}")
            if time.monotonic() > deadline:
                raise CommandFailed(
                    link.name, f"{self.what}: no answer within {timeout_s:g} s (#{self.seq})"
                )
        return self._value(link.name, self.what)


class ProcessLink(Generic[StateT, CommandT]):
    """Typed messages to one worker and its answers; one link per worker, rebound on restart.

    ``problem`` says why waiting is pointless (a fault anywhere in the rig), or None.
    """

    def __init__(
        self,
        worker: Worker,
        problem: Callable[[], str | None] = lambda: None,
        on_notice: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.name = worker.name
        self._problem = problem
        self._on_notice = on_notice
        self._lock = threading.Lock()
        self._seq = 0
        self._pending: dict[tuple[MessageKind, int], Pending] = {}
        self._worker = worker
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def worker(self) -> Worker:
        return self._worker

    # -- sending --------------------------------------------------------------------------------

    def set_state(self, state: StateT, timeout_s: float = ACK_TIMEOUT_S) -> Any:
        """Make ``state`` the child's desired state; returns once it was applied."""
        return self.post_state(state).wait(timeout_s)

    def post_state(self, state: StateT) -> Pending:
        """Send ``state`` without waiting (a newer state may replace it before it is applied)."""
        return self._post("state", state, self._worker.send_settings)

    def send(self, command: CommandT, timeout_s: float = ACK_TIMEOUT_S) -> Any:
        """Run a one-shot command; returns its answer."""
        return self.post(command).wait(timeout_s)

    def post(self, command: CommandT) -> Pending:
        """Queue a one-shot command; wait for its answer with ``.wait()``."""
        return self._post("command", command, self._worker.send_command)

    def _post(self, kind: MessageKind, message: Any, put: Callable[[Any], None]) -> Pending:
        with self._lock:
            self._seq += 1
            envelope = Envelope(self._seq, kind, message)
            pending = Pending(self, self._seq, kind, f"{kind} #{self._seq}")
            self._pending[(kind, self._seq)] = pending
            put(envelope)
        log_cmd(_log, "→ %s %s", self.name, envelope)
        return pending

    def problem(self) -> str | None:
        """Why no answer can come: a fault in the rig, or this worker gone."""
        reason = self._problem()
        if reason is not None:
            return reason
        worker = self._worker
        if worker.started and worker.exitcode is not None:
            return f"{self.name} has exited (code {worker.exitcode})"
        return None

    # -- receiving ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin taking replies off the worker's outbox (after the worker was started)."""
        if self._reader is not None:
            return
        self._stop.clear()
        self._reader = threading.Thread(target=self._read, name=f"link-{self.name}", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        """Stop reading (the worker is gone or being replaced); pending waits then time out."""
        self._stop.set()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(2 * _POLL_S + 1.0)

    def rebind(self, worker: Worker) -> None:
        """Talk to a replacement worker of the same name from now on."""
        self.stop()
        with self._lock:
            self._worker = worker
            for pending in self._pending.values():
                pending.resolve(Reply(pending.seq, pending.kind, False, None, "process restarted"))
            self._pending.clear()
        self.start()

    def _read(self) -> None:
        outbox = self._worker.outbox
        while not self._stop.is_set():
            try:
                item = outbox.get(timeout=_POLL_S * 4)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return  # the pipe is gone with the worker
            if isinstance(item, Reply):
                self._resolve(item)
            elif isinstance(item, Notice):
                log_cmd(_log, "← %s %s", self.name, item)
                if self._on_notice is not None:
                    self._on_notice(self.name, item.message)

    def _resolve(self, reply: Reply) -> None:
        """A state reply also answers every older state (the channel skipped them)."""
        with self._lock:
            if reply.kind == "state":
                keys = [k for k in self._pending if k[0] == "state" and k[1] <= reply.seq]
            else:
                keys = [("command", reply.seq)] if ("command", reply.seq) in self._pending else []
            answered = [self._pending.pop(k) for k in keys]
        level = logging.INFO if reply.ok else logging.WARNING
        for pending in answered:
            took_ms = (time.monotonic() - pending.sent_at) * 1000
            log_cmd(_log, "← %s %s (%.0f ms)", self.name, reply, took_ms, level=level)
            pending.resolve(reply)

"""What travels between the main process and a child besides frames: numbered messages and replies.

Two kinds of message go to a child, each in an ``Envelope`` with a sequence number from one
counter per child:

- its *desired state*, on the latest-wins settings channel: a newer state replaces an older one
  that was not applied yet, so one reply for number N also answers every state before N;
- *one-shot commands* (finish a run, take a dark frame, measure the piezo), on an ordered queue:
  each is applied once, in order, and answered on its own.

The child answers every message it applied with a ``Reply`` carrying the same number (ok with a
value, or refused with the child's own reason), and may send ``Notice``s of its own (a run's
files closed). Both directions are logged as kind CMD lines in the log of the process that sent
or received them, so ``lightsheet logs RUN`` shows every handshake.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from lightsheet.runtime.channels import describe

CMD = {"kind": "CMD"}
MessageKind = Literal["state", "command"]


class CommandRefused(Exception):
    """Raised by a child's handler: it cannot do what was asked, says why, and goes on running."""


class CommandFailed(RuntimeError):
    """The main process's side: a child refused a message, died, or did not answer in time."""

    def __init__(self, process: str, reason: str) -> None:
        super().__init__(f"{process}: {reason}")
        self.process = process
        self.reason = reason


class Deferred:
    """Returned by a handler that will answer later with ``Worker.reply(seq, ...)``."""

    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED = Deferred()


@dataclass(frozen=True)
class Envelope:
    seq: int
    kind: MessageKind
    message: Any

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} {summary(self.message)}"


@dataclass(frozen=True)
class Reply:
    seq: int
    kind: MessageKind
    ok: bool
    value: Any = None
    reason: str = ""

    def __str__(self) -> str:
        verdict = "ok" if self.ok else f"refused: {self.reason}"
        return f"{self.kind} #{self.seq} {verdict}"


@dataclass(frozen=True)
class Notice:
    """Something a child reports on its own initiative (not an answer)."""

    message: Any

    def __str__(self) -> str:
        return f"notice {summary(self.message)}"


def summary(message: object) -> str:
    """A message's own one-line summary when it has one, else a bounded repr."""
    own = getattr(message, "summary", None)
    if callable(own):
        return str(own())
    return describe(message)


def log_cmd(log: logging.Logger, text: str, *args: object, level: int = logging.INFO) -> None:
    log.log(level, text, *args, extra=CMD)

"""Line protocol between lightsheet and another instrument over a serial port.

Lines are ASCII, end in ``\\n`` (``\\r\\n`` is accepted from the device), and commands are
case-sensitive: ``TRIGGER`` is a command, ``trigger`` is not.

Wait mode (the other instrument starts lightsheet)::

    lightsheet -> device   ARMED                  ready, waiting for the trigger
    device -> lightsheet   TRIGGER                start now, with the configured duration
    device -> lightsheet   TRIGGER <duration_s>   start now, for this many seconds
    lightsheet -> device   STARTED <frame_id>     the first frame of the run was acquired
    device -> lightsheet   ABORT                  stop early; a clean stop, data is kept
    lightsheet -> device   STOPPED <volumes_saved>

Send mode (lightsheet starts the other instrument)::

    lightsheet -> device   TRIGGER <frame_id>     sent at the first frame of the run
    device -> lightsheet   DURATION <duration_s>  optional, only within the configured timeout
    device -> lightsheet   ABORT                  stop early; a clean stop, data is kept

Durations are unsigned decimal numbers of seconds (``2.5``, ``10``, ``1e3``), at least
``MIN_DURATION_S`` and at most ``MAX_DURATION_S``. Tokens are separated by spaces or tabs. A
line that does not parse completely is ignored as a whole: ``TRIGGER soon`` and
``TRIGGER 5 extra`` are no trigger. Lines longer than ``MAX_LINE_BYTES`` are discarded.

This module is pure (no I/O) so the parser can be fuzzed on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_LINE_BYTES = 256
"""Longest accepted line, terminator excluded; longer ones are dropped to bound memory."""

MIN_DURATION_S = 1e-3
"""Below a millisecond no frame can be acquired: such a duration is a device error."""

MAX_DURATION_S = 7 * 24 * 3600.0
"""A week: anything longer is far more likely a garbled number than an intended run."""

_DURATION_PATTERN = re.compile(rb"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_MAX_NUMBER_TOKEN = 32
_SEPARATORS = b" \t"


@dataclass(frozen=True)
class Trigger:
    """Start acquiring now; ``duration_s`` overrides the configured duration when given."""

    duration_s: float | None = None


@dataclass(frozen=True)
class Abort:
    """Stop early; the run ends cleanly and its data is kept."""


@dataclass(frozen=True)
class Duration:
    """The device's answer to our ``TRIGGER`` in send mode: how long the run lasts."""

    duration_s: float


DeviceMessage = Trigger | Abort | Duration


class _Invalid(Exception):
    """Internal: carries the reason a line was refused, never leaves this module."""


def parse_device_line(line: bytes) -> DeviceMessage | None:
    """Parse one line from the device; ``None`` if it is not a valid line (see ``why_invalid``)."""
    try:
        return _parse(line)
    except _Invalid:
        return None


def why_invalid(line: bytes) -> str:
    """Reason ``line`` is refused, for the log; empty string if the line is valid."""
    try:
        _parse(line)
    except _Invalid as error:
        return str(error)
    return ""


def describe_line(line: bytes, limit: int = 60) -> str:
    """Printable, bounded rendering of raw device bytes for log messages."""
    shown = line[:limit]
    text = repr(shown)[2:-1]
    return text + ("..." if len(line) > limit else "")


def _parse(line: bytes) -> DeviceMessage:
    line = _strip_terminator(line)
    if len(line) > MAX_LINE_BYTES:
        raise _Invalid(f"line longer than {MAX_LINE_BYTES} bytes")
    if any(byte >= 0x80 for byte in line):
        raise _Invalid("non-ASCII bytes")
    if any((byte < 0x20 and byte != 0x09) or byte == 0x7F for byte in line):
        raise _Invalid("control characters")
    tokens = line.replace(b"\t", b" ").split()
    if not tokens:
        raise _Invalid("empty line")
    command, arguments = tokens[0], tokens[1:]
    if command == b"TRIGGER":
        if not arguments:
            return Trigger(None)
        _expect_arguments(command, arguments, 1)
        return Trigger(_parse_duration(arguments[0]))
    if command == b"ABORT":
        _expect_arguments(command, arguments, 0)
        return Abort()
    if command == b"DURATION":
        _expect_arguments(command, arguments, 1)
        return Duration(_parse_duration(arguments[0]))
    if command.upper() in (b"TRIGGER", b"ABORT", b"DURATION"):
        raise _Invalid(f"commands are case-sensitive: use {command.upper().decode()}")
    raise _Invalid(f"unknown command {describe_line(command, 20)!r}")


def _strip_terminator(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def _expect_arguments(command: bytes, arguments: list[bytes], count: int) -> None:
    if len(arguments) != count:
        raise _Invalid(
            f"{command.decode()} takes {count} argument{'s' if count != 1 else ''}, "
            f"got {len(arguments)}"
        )


def _parse_duration(token: bytes) -> float:
    shown = describe_line(token, 20)
    if len(token) > _MAX_NUMBER_TOKEN:
        raise _Invalid(f"duration {shown!r} is longer than {_MAX_NUMBER_TOKEN} characters")
    if _DURATION_PATTERN.fullmatch(token) is None:
        raise _Invalid(f"duration {shown!r} is not an unsigned decimal number of seconds")
    value = float(token)
    if not math.isfinite(value) or value > MAX_DURATION_S:
        raise _Invalid(f"duration {shown} s is above the maximum of {MAX_DURATION_S:g} s")
    if value < MIN_DURATION_S:
        raise _Invalid(f"duration {shown} s is below the minimum of {MIN_DURATION_S:g} s")
    return value


def format_armed() -> bytes:
    """Wait mode: lightsheet is ready and waits for ``TRIGGER``."""
    return b"ARMED\n"


def format_started(frame_id: int) -> bytes:
    """Wait mode: the first frame of the triggered run was acquired."""
    return b"STARTED %d\n" % _count("frame_id", frame_id)


def format_stopped(volumes_saved: int) -> bytes:
    """Wait mode: the run is over and this many volumes are on disk."""
    return b"STOPPED %d\n" % _count("volumes_saved", volumes_saved)


def format_trigger(frame_id: int) -> bytes:
    """Send mode: start the other instrument; our run began at this frame."""
    return b"TRIGGER %d\n" % _count("frame_id", frame_id)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


class LineSplitter:
    """Cuts a byte stream into lines with bounded memory.

    A line that grows past ``max_line_bytes`` is dropped up to its next newline instead of being
    buffered, so a device that never sends a newline cannot exhaust memory.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.max_line_bytes = max_line_bytes
        self.discarded_lines = 0
        self._buffer = bytearray()
        self._discarding = False

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete line held for the next ``feed``: at most max_line_bytes + 1."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Complete lines in ``data`` (after what was pending), without ``\\n`` or ``\\r\\n``."""
        pieces = data.split(b"\n")
        lines: list[bytes] = []
        for piece in pieces[:-1]:
            if self._discarding:
                self._discarding = False
                continue
            line = _strip_terminator(bytes(self._buffer) + piece)
            self._buffer.clear()
            if len(line) > self.max_line_bytes:
                self.discarded_lines += 1
                continue
            lines.append(line)
        self._keep_partial(pieces[-1])
        return lines

    def reset(self) -> None:
        """Forget any partial line, e.g. when stale input is thrown away."""
        self._buffer.clear()
        self._discarding = False

    def _keep_partial(self, piece: bytes) -> None:
        if self._discarding or not piece:
            return
        # One byte of slack for the ``\r`` of a ``\r\n`` split across two reads.
        if len(self._buffer) + len(piece) > self.max_line_bytes + 1:
            self._buffer.clear()
            self._discarding = True
            self.discarded_lines += 1
            return
        self._buffer += piece


class LogThrottle:
    """Decides which of many repeated log events to write, so a flood cannot flood the log.

    The first ``first`` events are logged, then one in every ``every`` (with the running count).
    """

    def __init__(self, first: int = 20, every: int = 1000) -> None:
        self.first = first
        self.every = every
        self.count = 0

    def should_log(self) -> bool:
        """Count one event; True if this one should be written."""
        self.count += 1
        return self.count <= self.first or self.count % self.every == 0

"""Another instrument at the far end of a real pseudo-terminal, for the rig without hardware.

The code under test opens ``device.port`` (e.g. ``/dev/pts/5``) through pyserial exactly as it
would open a USB serial adapter, so the whole path down to the kernel's tty layer is exercised.
One I/O thread on the master side records every line lightsheet sends, writes what the device is
told to send (raw bytes, garbage included) without ever blocking the caller, and plays scripted
behaviours: answer ``ARMED`` with ``TRIGGER``, answer our ``TRIGGER`` with ``DURATION``.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import select
import threading
import time
import tty
from types import TracebackType

from lightsheet.hardware.trigger.lines import LineSplitter, describe_line

logger = logging.getLogger(__name__)

_READ_CHUNK = 4096


class SimulatedTriggerDevice:
    """A scripted trigger device on a raw pty pair; see the module docstring."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.port = os.ttyname(slave)
        self._master = master
        # Holding the slave open keeps the master readable while the code under test closes and
        # reopens its side; without it the master reports EIO whenever no one holds the slave.
        self._slave = slave
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._condition = threading.Condition()
        self._lines: list[bytes] = []
        self._returned: set[int] = set()
        self._outgoing = bytearray()
        self._scheduled: list[tuple[float, int, bytes]] = []
        self._schedule_order = 0
        self._trigger_on_armed = False
        self._trigger_duration_s: float | None = None
        self._duration_answer: tuple[float, float] | None = None
        self._stopping = False
        self._disconnected = False
        self._splitter = LineSplitter(max_line_bytes=_READ_CHUNK)
        self._thread = threading.Thread(
            target=self._run, name=f"simulated-trigger {self.port}", daemon=True
        )
        self._thread.start()
        logger.info("simulated trigger device on %s", self.port)

    @property
    def received_lines(self) -> list[bytes]:
        """Every line lightsheet sent, in order, without terminators."""
        with self._condition:
            return list(self._lines)

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def send(self, data: bytes) -> None:
        """Queue raw bytes for lightsheet, exactly as given (no newline is added)."""
        with self._condition:
            if self._disconnected:
                raise RuntimeError(f"simulated trigger device {self.port} is disconnected")
            self._outgoing += data
            self._wake()

    def wait_sent(self, timeout_s: float) -> bool:
        """Wait until every queued byte reached the pty; False if the deadline passed first."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while self._outgoing and not self._disconnected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return not self._outgoing

    def wait_for_line(self, prefix: bytes, timeout_s: float) -> bytes | None:
        """First received line starting with ``prefix`` not returned by an earlier call.

        Waits until such a line arrives or the deadline passes (then ``None``).
        """
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                for index, line in enumerate(self._lines):
                    if index not in self._returned and line.startswith(prefix):
                        self._returned.add(index)
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._disconnected:
                    return None
                self._condition.wait(remaining)

    def auto_trigger_on_armed(self, duration_s: float | None = None) -> None:
        """Answer every ``ARMED`` with ``TRIGGER`` (with ``duration_s`` when given)."""
        with self._condition:
            self._trigger_on_armed = True
            self._trigger_duration_s = duration_s

    def answer_duration(self, duration_s: float | None, delay_s: float = 0.0) -> None:
        """Answer every ``TRIGGER <frame_id>`` with ``DURATION <duration_s>`` after ``delay_s``.

        ``None`` stops answering, like a device that ignores our trigger.
        """
        if delay_s < 0:
            raise ValueError(f"delay must be >= 0, got {delay_s}")
        with self._condition:
            self._duration_answer = None if duration_s is None else (duration_s, delay_s)

    def disconnect(self) -> None:
        """Pull the cable: close the master side, so lightsheet's port is lost."""
        with self._condition:
            if self._stopping or self._disconnected:
                return
            self._stopping = True
            self._wake()
        self._thread.join()
        with self._condition:
            for fd in (self._master, self._slave, self._wake_read, self._wake_write):
                os.close(fd)
            self._disconnected = True
            self._condition.notify_all()
        logger.info("simulated trigger device on %s disconnected", self.port)

    def close(self) -> None:
        """Release the pty and the I/O thread; same as ``disconnect`` and safe to repeat."""
        self.disconnect()

    def __enter__(self) -> SimulatedTriggerDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _wake(self) -> None:
        """Interrupt the I/O thread's select; a full pipe already guarantees a wake-up."""
        with self._condition:
            if self._disconnected:
                return
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_write, b"\0")

    def _run(self) -> None:
        while True:
            with self._condition:
                if self._stopping:
                    return
                self._release_due(time.monotonic())
                writing = bool(self._outgoing)
                timeout = self._scheduled[0][0] - time.monotonic() if self._scheduled else None
            readable, writable, _ = select.select(
                [self._master, self._wake_read],
                [self._master] if writing else [],
                [],
                None if timeout is None else max(0.0, timeout),
            )
            if self._wake_read in readable:
                os.read(self._wake_read, _READ_CHUNK)
            if self._master in readable:
                self._receive()
            if self._master in writable:
                self._transmit()

    def _receive(self) -> None:
        try:
            data = os.read(self._master, _READ_CHUNK)
        except BlockingIOError:
            return
        for line in self._splitter.feed(data):
            logger.debug("simulated trigger device received %s", describe_line(line))
            with self._condition:
                self._lines.append(line)
                self._react(line)
                self._condition.notify_all()

    def _transmit(self) -> None:
        with self._condition:
            chunk = bytes(self._outgoing[:_READ_CHUNK])
        try:
            written = os.write(self._master, chunk)
        except BlockingIOError:
            return
        with self._condition:
            del self._outgoing[:written]
            self._condition.notify_all()

    def _react(self, line: bytes) -> None:
        """Play the scripted behaviours; called with the condition held."""
        if line == b"ARMED" and self._trigger_on_armed:
            duration = self._trigger_duration_s
            self._outgoing += (
                b"TRIGGER\n" if duration is None else b"TRIGGER %s\n" % _number(duration)
            )
        elif line.startswith(b"TRIGGER ") and self._duration_answer is not None:
            duration, delay = self._duration_answer
            self._schedule_order += 1
            answer = b"DURATION %s\n" % _number(duration)
            heapq.heappush(
                self._scheduled, (time.monotonic() + delay, self._schedule_order, answer)
            )

    def _release_due(self, now: float) -> None:
        """Move scheduled answers whose time has come to the output; condition held."""
        while self._scheduled and self._scheduled[0][0] <= now:
            self._outgoing += heapq.heappop(self._scheduled)[2]


def _number(value: float) -> bytes:
    return repr(float(value)).encode("ascii")

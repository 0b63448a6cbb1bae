"""The trigger port on pyserial's ``loop://`` URL, with the test playing the device on the loop.

A loop has no second end: what the port writes is what it reads. The far end therefore works on
the port's own transport: it takes the port's lines out of the loop before the port reads them,
and feeds the device's bytes into it from a thread, never more than the loop's 4 KiB queue holds,
so a flood waits for the port to read as it would on a cable.
"""

from __future__ import annotations

import queue
import threading
import time

import serial

from lightsheet.hardware.trigger.lines import LineSplitter
from lightsheet.hardware.trigger.port import SerialTriggerPort

_POLL_S = 0.002  # the loop offers no wake-up for "space freed" or "bytes arrived"
_CHUNK = 1024


class LoopbackTriggerPort(SerialTriggerPort):
    """``SerialTriggerPort`` on ``loop://``; ``transport`` lets the far end reach the loop."""

    def __init__(self) -> None:
        super().__init__("loop://", baudrate=115200, timeout_s=5.0)

    @property
    def transport(self) -> serial.SerialBase | None:
        return self._serial


class LoopbackFarEnd:
    """The device's side of a ``LoopbackTriggerPort`` (a ``FarEnd`` of the port contract).

    ``wait_for_line`` takes every byte in the loop, so call it only while no device bytes are
    queued for the port.
    """

    def __init__(self, port: LoopbackTriggerPort) -> None:
        self._port = port
        self._condition = threading.Condition()
        self._outgoing = bytearray()
        self._lines: list[bytes] = []
        self._returned: set[int] = set()
        self._splitter = LineSplitter(max_line_bytes=4096)
        self._stopping = False
        self._thread: threading.Thread | None = None

    def send(self, data: bytes) -> None:
        with self._condition:
            if self._stopping:
                raise RuntimeError("the loop's far end is disconnected")
            self._outgoing += data
            if self._thread is None:
                self._thread = threading.Thread(target=self._write, daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def wait_sent(self, timeout_s: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: not self._outgoing, timeout_s)

    def wait_for_line(self, prefix: bytes, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + timeout_s
        while True:
            for index, line in enumerate(self._lines):
                if index not in self._returned and line.startswith(prefix):
                    self._returned.add(index)
                    return line
            if time.monotonic() >= deadline:
                return None
            self._take_lines()

    def disconnect(self) -> None:
        """Close the loop under the port, as when a USB adapter is pulled."""
        self.close()
        transport = self._port.transport
        if transport is not None:
            transport.close()

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._outgoing.clear()
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _take_lines(self) -> None:
        transport = self._port.transport
        open_ = transport is not None and transport.is_open
        waiting = transport.in_waiting if open_ else 0  # type: ignore[union-attr]
        if not waiting:
            time.sleep(_POLL_S)
            return
        self._lines.extend(self._splitter.feed(transport.read(waiting)))

    def _write(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._outgoing or self._stopping)
                if self._stopping:
                    return
                transport = self._port.transport
                free = _free_space(transport)
                chunk = bytes(self._outgoing[: min(free, _CHUNK)])
            if not chunk:
                time.sleep(_POLL_S)
                continue
            try:
                transport.write(chunk)  # type: ignore[union-attr]
            except (serial.SerialException, queue.Full):
                return  # the loop is closed or full: the port is gone or stopped reading
            with self._condition:
                del self._outgoing[: len(chunk)]
                self._condition.notify_all()


def _free_space(transport: serial.SerialBase | None) -> int:
    if transport is None or not transport.is_open:
        return 0
    return transport.buffer_size - transport.in_waiting  # type: ignore[attr-defined]

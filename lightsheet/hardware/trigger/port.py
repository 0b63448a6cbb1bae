"""The serial link to the instrument that starts us or that we start.

``TriggerPort`` owns everything that does not depend on the transport: line splitting, parsing,
validation of what we send, logging and ignoring what the device gets wrong, and noticing that the
port went away. A lost port (cable pulled, pty closed) is a state to report, never an exception
out of ``read_messages``/``send``: the trigger process must still stop the run cleanly.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from types import TracebackType

import serial

from lightsheet.hardware.trigger.lines import (
    MAX_LINE_BYTES,
    DeviceMessage,
    LineSplitter,
    LogThrottle,
    describe_line,
    parse_device_line,
    why_invalid,
)

logger = logging.getLogger(__name__)

MAX_READ_BYTES = 64 * 1024
"""Most bytes one ``read_messages`` call takes in, so a flooding device cannot grow our lists."""


class TriggerPortError(Exception):
    """The trigger port cannot be used as asked; the message names the port and the reason."""


class TriggerPort(ABC):
    """A line-oriented link to the trigger device; backends implement the ``_do_*`` methods.

    Backends signal a broken link by raising ``OSError`` (``serial.SerialException`` is one) from
    ``_do_read``/``_do_write``/``_do_discard_input``, and a write the device does not accept in
    time by raising ``TimeoutError``.
    """

    def __init__(self, name: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.name = name
        self.invalid_lines = 0
        self._splitter = LineSplitter(max_line_bytes)
        self._is_open = False
        self._lost = False
        self._invalid_log = LogThrottle()
        self._long_log = LogThrottle()

    @property
    def is_open(self) -> bool:
        """True between a successful ``open`` and ``close``, lost or not."""
        return self._is_open

    @property
    def lost(self) -> bool:
        """True once the link broke; the port stays lost until closed and opened again."""
        return self._lost

    @property
    def discarded_lines(self) -> int:
        """Over-long lines thrown away so far."""
        return self._splitter.discarded_lines

    def open(self) -> None:
        """Open the link; ``TriggerPortError`` names the port and why it cannot be opened."""
        if self._is_open:
            return
        try:
            self._do_open()
        except (OSError, ValueError) as error:
            raise TriggerPortError(
                f"cannot open trigger port {self.name}: {_reason(error)}"
            ) from error
        self._is_open = True
        self._lost = False
        self._splitter.reset()
        logger.info("trigger port %s opened", self.name)

    def close(self) -> None:
        """Close the link; safe to call twice and after the port was lost."""
        if not self._is_open:
            return
        self._is_open = False
        try:
            self._do_close()
        except OSError as error:
            logger.warning("trigger port %s: error while closing: %s", self.name, error)
        logger.info("trigger port %s closed", self.name)

    def send(self, line: bytes) -> bool:
        """Send one protocol line; False if it did not go out (port lost or device not reading).

        ``line`` must be one line of printable ASCII, with or without its ``\\n``; anything else
        is a programming error and raises ``ValueError``.
        """
        body = _checked_line(line, self._splitter.max_line_bytes)
        self._require_open()
        if self._lost:
            logger.warning("trigger port %s is lost: not sent: %s", self.name, describe_line(body))
            return False
        try:
            self._do_write(body + b"\n")
        except TimeoutError as error:
            logger.warning(
                "trigger port %s: device did not accept %s in time: %s",
                self.name,
                describe_line(body),
                error,
            )
            return False
        except OSError as error:
            self._mark_lost(error)
            return False
        logger.info("trigger port %s: sent %s", self.name, describe_line(body))
        return True

    def read_messages(self, timeout_s: float) -> list[DeviceMessage]:
        """Valid messages that arrive within ``timeout_s``; bad lines are logged and ignored.

        Returns as soon as at least one valid message was read, or when the time is up, or when
        the port is lost (then with what was read before).
        """
        _check_timeout(timeout_s)
        self._require_open()
        messages: list[DeviceMessage] = []
        if self._lost:
            return messages
        deadline = time.monotonic() + timeout_s
        received = 0
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                data = self._do_read(MAX_READ_BYTES - received, remaining)
            except OSError as error:
                self._mark_lost(error)
                return messages
            received += len(data)
            messages.extend(self._parse(data))
            if messages or remaining <= 0.0 or received >= MAX_READ_BYTES:
                return messages

    def discard_input(self) -> None:
        """Throw away whatever the device sent until now, so nothing stale is taken as an answer."""
        self._require_open()
        self._splitter.reset()
        if self._lost:
            return
        try:
            self._do_discard_input()
        except OSError as error:
            self._mark_lost(error)

    def __enter__(self) -> TriggerPort:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _parse(self, data: bytes) -> list[DeviceMessage]:
        if not data:
            return []
        discarded_before = self._splitter.discarded_lines
        messages: list[DeviceMessage] = []
        for line in self._splitter.feed(data):
            message = parse_device_line(line)
            if message is not None:
                logger.info("trigger port %s: received %s", self.name, describe_line(line))
                messages.append(message)
                continue
            self.invalid_lines += 1
            if not line.strip():
                logger.debug("trigger port %s: ignored an empty line", self.name)
            elif self._invalid_log.should_log():
                logger.warning(
                    "trigger port %s: ignored %r: %s (%d invalid lines so far)",
                    self.name,
                    describe_line(line),
                    why_invalid(line),
                    self.invalid_lines,
                )
        newly_discarded = self._splitter.discarded_lines - discarded_before
        for _ in range(newly_discarded):
            if self._long_log.should_log():
                logger.warning(
                    "trigger port %s: discarded a line longer than %d bytes (%d so far)",
                    self.name,
                    self._splitter.max_line_bytes,
                    self._long_log.count,
                )
        return messages

    def _mark_lost(self, error: OSError) -> None:
        if not self._lost:
            logger.error("trigger port %s lost: %s", self.name, error)
        self._lost = True

    def _require_open(self) -> None:
        if not self._is_open:
            raise TriggerPortError(f"trigger port {self.name} is not open")

    @abstractmethod
    def _do_open(self) -> None:
        """Open the transport; raise ``OSError`` or ``ValueError`` when it cannot be."""

    @abstractmethod
    def _do_close(self) -> None:
        """Release the transport."""

    @abstractmethod
    def _do_write(self, data: bytes) -> None:
        """Write all of ``data``; ``TimeoutError`` if the device does not take it in time."""

    @abstractmethod
    def _do_read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to ``max_bytes`` received bytes, waiting at most ``timeout_s`` for the first."""

    @abstractmethod
    def _do_discard_input(self) -> None:
        """Drop bytes received but not yet read."""


class SerialTriggerPort(TriggerPort):
    """Trigger port on anything pyserial opens by URL: device paths, ``socket://``, ``loop://``.

    The port is opened exclusively, so two lightsheet instances cannot share one trigger cable.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout_s: float = 1.0,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError(f"baudrate must be a positive integer, got {baudrate!r}")
        _check_timeout(timeout_s)
        super().__init__(port, max_line_bytes)
        self.baudrate = baudrate
        self.write_timeout_s = timeout_s
        self._serial: serial.SerialBase | None = None

    def _do_open(self) -> None:
        self._serial = serial.serial_for_url(
            self.name,
            baudrate=self.baudrate,
            timeout=0.0,
            write_timeout=self.write_timeout_s,
            exclusive=True,
        )

    def _do_close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            port.close()

    def _do_write(self, data: bytes) -> None:
        try:
            self._connection().write(data)
        except serial.SerialTimeoutException as error:
            raise TimeoutError(str(error)) from error

    def _do_read(self, max_bytes: int, timeout_s: float) -> bytes:
        connection = self._connection()
        if connection.timeout != timeout_s:
            connection.timeout = timeout_s
        first = connection.read(1)
        if not first or max_bytes <= 1:
            return first
        waiting = connection.in_waiting
        if not waiting:
            return first
        return first + connection.read(min(waiting, max_bytes - 1))

    def _do_discard_input(self) -> None:
        self._connection().reset_input_buffer()

    def _connection(self) -> serial.SerialBase:
        if self._serial is None:
            raise TriggerPortError(f"trigger port {self.name} is not open")
        return self._serial


def open_trigger_port(port: str, baudrate: int, timeout_s: float) -> TriggerPort:
    """Open the configured trigger port; ``TriggerPortError`` says which port and why not."""
    trigger_port = SerialTriggerPort(port, baudrate, timeout_s)
    trigger_port.open()
    return trigger_port


def _checked_line(line: bytes, max_line_bytes: int) -> bytes:
    if not isinstance(line, bytes):
        raise ValueError(f"a protocol line must be bytes, got {type(line).__name__}")
    body = line[:-1] if line.endswith(b"\n") else line
    if not body:
        raise ValueError("a protocol line must not be empty")
    if len(body) > max_line_bytes:
        raise ValueError(f"a protocol line must be at most {max_line_bytes} bytes")
    if any(byte < 0x20 or byte > 0x7E for byte in body):
        raise ValueError(f"a protocol line must be one line of printable ASCII: {body!r}")
    return body


def _check_timeout(timeout_s: float) -> None:
    if isinstance(timeout_s, bool) or not math.isfinite(timeout_s) or timeout_s < 0:
        raise ValueError(f"timeout must be a finite number of seconds >= 0, got {timeout_s!r}")


def _reason(error: BaseException) -> str:
    """The most specific cause: pyserial wraps the OS error in a message that repeats the path."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(error)

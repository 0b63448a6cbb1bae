"""The trigger port contract: what every ``TriggerPort`` backend promises, as a pytest base class.

A backend author subclasses ``TriggerPortContract`` as ``TestMyPort`` and implements ``make_link``:
an unopened port plus a ``FarEnd``, the instrument's side of the same link, through which the
tests play the device (send bytes, read what the port sent, pull the cable). The tests check
what ``TriggerPort`` promises whatever the transport: open and close are idempotent, a closed
port refuses use, ``send`` refuses anything but one printable line, ``read_messages`` parses,
skips and counts bad lines and takes a bounded amount per call, ``discard_input`` drops stale
input, and a lost link is a state to report, never an exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Protocol

import pytest

from lightsheet.hardware.trigger.lines import MAX_LINE_BYTES, Abort, DeviceMessage, Trigger
from lightsheet.hardware.trigger.port import MAX_READ_BYTES, TriggerPort, TriggerPortError

DEADLINE_S = 10.0  # generous: bytes normally cross a link within milliseconds
POLL_S = 0.05


class FarEnd(Protocol):
    """The instrument's side of the link under test (``SimulatedTriggerDevice`` is one)."""

    def send(self, data: bytes) -> None:
        """Queue raw bytes for the port, exactly as given (no newline added); never blocks."""

    def wait_sent(self, timeout_s: float) -> bool:
        """Wait until every queued byte went into the link; False if the deadline passed first."""

    def wait_for_line(self, prefix: bytes, timeout_s: float) -> bytes | None:
        """The first line the port sent that starts with ``prefix`` and was not returned before.

        Without terminator; ``None`` when no such line arrives before the deadline.
        """

    def disconnect(self) -> None:
        """Pull the cable: the port's next read or write finds the link broken."""

    def close(self) -> None:
        """Release the far end; safe after ``disconnect`` and when repeated."""


def read_until(port: TriggerPort, count: int) -> list[DeviceMessage]:
    """Messages read until ``count`` arrived or the deadline passed."""
    received: list[DeviceMessage] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(received) < count and time.monotonic() < deadline:
        received.extend(port.read_messages(POLL_S))
    return received


def refuses_use(port: TriggerPort) -> None:
    """Every use of a port that is not open raises ``TriggerPortError`` saying so."""
    with pytest.raises(TriggerPortError, match="not open"):
        port.send(b"ARMED")
    with pytest.raises(TriggerPortError, match="not open"):
        port.read_messages(0.0)
    with pytest.raises(TriggerPortError, match="not open"):
        port.discard_input()


def wait_lost(port: TriggerPort) -> None:
    """Read (nothing may arrive) until the port notices the broken link; fail at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not port.lost and time.monotonic() < deadline:
        assert port.read_messages(POLL_S) == []
    assert port.lost


class TriggerPortContract:
    """Every test a ``TriggerPort`` backend must pass; subclass as ``TestXxx``, add make_link."""

    def make_link(self) -> tuple[TriggerPort, FarEnd]:
        """A new, unopened port with the default line limit, and the far end of its link."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_link() to run the trigger port contract"
        )

    @pytest.fixture
    def link(self) -> Iterator[tuple[TriggerPort, FarEnd]]:
        port, far_end = self.make_link()
        try:
            yield port, far_end
        finally:
            port.close()
            far_end.close()

    @pytest.fixture
    def closed_port(self, link: tuple[TriggerPort, FarEnd]) -> TriggerPort:
        return link[0]

    @pytest.fixture
    def port(self, link: tuple[TriggerPort, FarEnd]) -> TriggerPort:
        link[0].open()
        return link[0]

    @pytest.fixture
    def device(self, link: tuple[TriggerPort, FarEnd]) -> FarEnd:
        return link[1]

    # -- open and close ---------------------------------------------------------------------------

    def test_open_and_close_are_idempotent(self, closed_port: TriggerPort) -> None:
        assert not closed_port.is_open
        closed_port.open()
        closed_port.open()
        assert closed_port.is_open and not closed_port.lost
        closed_port.close()
        closed_port.close()
        assert not closed_port.is_open

    def test_the_context_manager_opens_and_closes(self, closed_port: TriggerPort) -> None:
        with closed_port as opened:
            assert opened is closed_port and opened.is_open
        assert not closed_port.is_open

    def test_a_port_that_is_not_open_refuses_use(self, closed_port: TriggerPort) -> None:
        refuses_use(closed_port)  # never opened
        closed_port.open()
        closed_port.close()
        closed_port.close()
        refuses_use(closed_port)

    def test_a_closed_port_opens_again_and_works(
        self, device: FarEnd, closed_port: TriggerPort
    ) -> None:
        closed_port.open()
        closed_port.close()
        closed_port.open()
        assert closed_port.send(b"ARMED")
        assert device.wait_for_line(b"ARMED", DEADLINE_S) == b"ARMED"
        device.send(b"ABORT\n")
        assert read_until(closed_port, 1) == [Abort()]

    # -- send -------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "line",
        [b"", b"\n", b"TWO\nLINES", b"CR\r", b"caf\xc3\xa9", b"A" * (MAX_LINE_BYTES + 1), "ARMED"],
    )
    def test_send_refuses_anything_but_one_printable_ascii_line(
        self, device: FarEnd, port: TriggerPort, line: object
    ) -> None:
        with pytest.raises(ValueError):
            port.send(line)  # type: ignore[arg-type]
        assert port.send(b"ARMED")
        assert device.wait_for_line(b"", DEADLINE_S) == b"ARMED"  # nothing went out before it

    def test_send_takes_a_line_of_the_longest_length(
        self, device: FarEnd, port: TriggerPort
    ) -> None:
        longest = b"STOPPED " + b"7" * (MAX_LINE_BYTES - 8)
        assert port.send(longest)
        assert device.wait_for_line(b"STOPPED", DEADLINE_S) == longest

    def test_lines_travel_both_ways_unchanged(self, device: FarEnd, port: TriggerPort) -> None:
        assert port.send(b"ARMED\n")
        assert port.send(b"STARTED 7")
        assert device.wait_for_line(b"ARMED", DEADLINE_S) == b"ARMED"
        assert device.wait_for_line(b"STARTED", DEADLINE_S) == b"STARTED 7"
        device.send(b"TRIGGER 2.5\r\nABORT\n")
        assert read_until(port, 2) == [Trigger(2.5), Abort()]

    # -- read_messages ----------------------------------------------------------------------------

    def test_read_messages_returns_nothing_when_the_device_is_silent(
        self, port: TriggerPort
    ) -> None:
        assert port.read_messages(0.0) == []
        assert port.read_messages(POLL_S) == []
        assert not port.lost

    @pytest.mark.parametrize("timeout_s", [-1.0, float("nan"), float("inf"), True])
    def test_read_messages_refuses_a_bad_timeout(self, port: TriggerPort, timeout_s: float) -> None:
        with pytest.raises(ValueError, match="timeout"):
            port.read_messages(timeout_s)

    def test_bad_lines_are_logged_counted_and_skipped(
        self, device: FarEnd, port: TriggerPort, caplog: pytest.LogCaptureFixture
    ) -> None:
        device.send(b"HELLO\ntrigger\nTRIGGER soon\n\xff\xfe\n\r\nABORT\n")
        with caplog.at_level(logging.WARNING):
            assert read_until(port, 1) == [Abort()]
        assert port.invalid_lines == 5
        assert "ignored 'HELLO'" in caplog.text
        assert "commands are case-sensitive" in caplog.text

    def test_a_line_split_across_reads_is_joined(self, device: FarEnd, port: TriggerPort) -> None:
        device.send(b"TRIG")
        assert device.wait_sent(DEADLINE_S)
        assert port.read_messages(POLL_S) == []
        device.send(b"GER 2.5\r")
        assert device.wait_sent(DEADLINE_S)
        assert port.read_messages(POLL_S) == []
        device.send(b"\nABORT\n")
        assert read_until(port, 2) == [Trigger(2.5), Abort()]
        assert port.invalid_lines == 0

    def test_over_long_lines_are_discarded_and_counted(
        self, device: FarEnd, port: TriggerPort
    ) -> None:
        longest = b"TRIGGER" + b" " * (MAX_LINE_BYTES - 7)  # still one valid line
        device.send(longest + b"\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\n")
        device.send(b"y" * 10 * MAX_LINE_BYTES + b"\nABORT\n")  # no newline for a long while
        assert read_until(port, 2) == [Trigger(None), Abort()]
        assert port.discarded_lines == 2
        assert port.invalid_lines == 0

    def test_read_messages_returns_at_the_first_valid_message(
        self, device: FarEnd, port: TriggerPort
    ) -> None:
        results: list[list[DeviceMessage]] = []
        reader = threading.Thread(
            target=lambda: results.append(port.read_messages(600.0)), daemon=True
        )
        reader.start()
        device.send(b"ABORT\n")
        reader.join(DEADLINE_S)
        assert not reader.is_alive(), "read_messages kept waiting after a valid message"
        assert results == [[Abort()]]

    def test_read_messages_takes_a_bounded_amount_per_call(
        self, device: FarEnd, port: TriggerPort
    ) -> None:
        line = b"N" * 63 + b"\n"
        count = 2 * MAX_READ_BYTES // len(line)
        device.send(line * count + b"ABORT\n")
        assert port.read_messages(DEADLINE_S) == []
        assert 0 < port.invalid_lines <= MAX_READ_BYTES // len(line)
        assert read_until(port, 1) == [Abort()]
        assert port.invalid_lines == count

    # -- discard_input ----------------------------------------------------------------------------

    def test_discard_input_drops_what_the_device_sent_before(
        self, device: FarEnd, port: TriggerPort
    ) -> None:
        device.send(b"NOISE\nTRIGGER 7")  # a complete line and a partial one
        assert device.wait_sent(DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while port.invalid_lines < 1 and time.monotonic() < deadline:
            assert port.read_messages(POLL_S) == []
        assert port.invalid_lines == 1
        port.discard_input()
        device.send(b"\nABORT\n")
        assert read_until(port, 1) == [Abort()]
        assert port.read_messages(POLL_S) == []

    # -- a lost link ------------------------------------------------------------------------------

    def test_port_loss_is_reported_not_raised(self, device: FarEnd, port: TriggerPort) -> None:
        device.disconnect()
        wait_lost(port)
        assert port.read_messages(POLL_S) == []
        assert port.send(b"STOPPED 0") is False
        port.discard_input()
        port.close()

    def test_a_lost_port_stays_lost_until_closed_and_opened_again(
        self, device: FarEnd, port: TriggerPort, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR):
            device.disconnect()
            wait_lost(port)
            for _ in range(3):
                assert port.send(b"ARMED") is False
                assert port.read_messages(0.0) == []
                port.discard_input()
        assert port.is_open and port.lost
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
        port.close()
        assert not port.is_open and port.lost
        try:
            port.open()
        except TriggerPortError as error:  # the far end is gone for good: refused, and said why
            assert str(error).startswith(f"cannot open trigger port {port.name}: ")
            assert not port.is_open
        else:  # the transport came back: a fresh link
            assert port.is_open and not port.lost

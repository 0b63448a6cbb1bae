"""The trigger port and session through a real pseudo-terminal, as a USB serial cable would be.

The shipped port contract (``lightsheet.testing.trigger_port_contract``) runs here against the
pyserial backend twice: over a pty with the simulated device at the far end, and over ``loop://``.
What follows it is what only the pyserial backend does (opening errors, exclusive use) and the
trigger session on top of a port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lightsheet.hardware.trigger.lines import Abort, Duration, Trigger
from lightsheet.hardware.trigger.port import (
    SerialTriggerPort,
    TriggerPort,
    TriggerPortError,
    open_trigger_port,
)
from lightsheet.hardware.trigger.session import PortLost, SessionEvent, TriggerSession
from lightsheet.hardware.trigger.simulated_device import SimulatedTriggerDevice
from lightsheet.testing.trigger_port_contract import FarEnd, TriggerPortContract

from .loopback_trigger import LoopbackFarEnd, LoopbackTriggerPort

DEADLINE_S = 10.0
POLL_S = 0.05


@pytest.fixture
def device() -> Iterator[SimulatedTriggerDevice]:
    with SimulatedTriggerDevice() as simulated:
        yield simulated


@pytest.fixture
def port(device: SimulatedTriggerDevice) -> Iterator[TriggerPort]:
    with open_trigger_port(device.port, 115200, timeout_s=5.0) as opened:
        yield opened


def next_event(session: TriggerSession) -> SessionEvent | None:
    """Poll until the session reports an event or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        event = session.poll(POLL_S)
        if event is not None:
            return event
    return None


def poll_until(session: TriggerSession, done: Callable[[], bool]) -> None:
    """Poll (dropping events) until ``done()`` holds; fail at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        session.poll(POLL_S)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the port contract, then what only the pyserial backend does --------------------------------


class TestSerialPortOverPty(TriggerPortContract):
    """The contract through a real pty, the simulated trigger device at the master side."""

    def make_link(self) -> tuple[TriggerPort, FarEnd]:
        device = SimulatedTriggerDevice()
        return SerialTriggerPort(device.port, 115200, timeout_s=5.0), device


class TestSerialPortOverLoopUrl(TriggerPortContract):
    """The contract over pyserial's ``loop://``, the test playing the device on the loop."""

    def make_link(self) -> tuple[TriggerPort, FarEnd]:
        port = LoopbackTriggerPort()
        return port, LoopbackFarEnd(port)


def test_loop_url_is_accepted_as_a_port() -> None:
    with open_trigger_port("loop://", 9600, timeout_s=1.0) as looped:
        assert looped.send(b"ABORT")
        assert looped.read_messages(DEADLINE_S) == [Abort()]


def test_missing_device_gives_a_clear_error_naming_the_path() -> None:
    with pytest.raises(TriggerPortError) as raised:
        open_trigger_port("/dev/ttyNO-SUCH-TRIGGER", 115200, timeout_s=1.0)
    assert str(raised.value) == (
        "cannot open trigger port /dev/ttyNO-SUCH-TRIGGER: No such file or directory"
    )


def test_a_file_that_is_no_serial_port_gives_a_clear_error(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "trigger"
    not_a_tty.write_bytes(b"")
    with pytest.raises(TriggerPortError, match=f"cannot open trigger port {not_a_tty}: "):
        open_trigger_port(str(not_a_tty), 115200, timeout_s=1.0)


def test_an_unknown_url_scheme_gives_a_clear_error() -> None:
    with pytest.raises(TriggerPortError, match="cannot open trigger port bogus://x: "):
        open_trigger_port("bogus://x", 115200, timeout_s=1.0)


def test_a_port_in_use_by_another_lightsheet_cannot_be_opened(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    with pytest.raises(TriggerPortError, match=f"cannot open trigger port {device.port}: "):
        open_trigger_port(device.port, 115200, timeout_s=1.0)


def test_a_disconnected_device_cannot_be_opened() -> None:
    with SimulatedTriggerDevice() as gone:
        path = gone.port
        gone.disconnect()
        with pytest.raises(TriggerPortError, match=f"cannot open trigger port {path}: "):
            open_trigger_port(path, 115200, timeout_s=1.0)


# --- wait mode: the other instrument starts us -------------------------------------------------


def test_wait_mode_exchange(device: SimulatedTriggerDevice, port: TriggerPort) -> None:
    device.auto_trigger_on_armed(2.5)
    session = TriggerSession("wait", port, configured_duration_s=10.0, timeout_s=1.0)
    session.arm()
    assert next_event(session) == Trigger(2.5)
    assert session.resolve_duration() == (2.5, "device")
    session.on_first_frame(0)
    assert device.wait_for_line(b"STARTED", DEADLINE_S) == b"STARTED 0"
    session.finish(4)
    assert device.wait_for_line(b"STOPPED", DEADLINE_S) == b"STOPPED 4"
    assert device.received_lines == [b"ARMED", b"STARTED 0", b"STOPPED 4"]
    assert session.info()["duration_source"] == "device"


def test_wait_mode_trigger_without_duration_keeps_the_command_line_one(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    device.auto_trigger_on_armed(None)
    session = TriggerSession("wait", port, 30.0, 1.0, configured_source="cli")
    session.arm()
    assert next_event(session) == Trigger(None)
    assert session.resolve_duration() == (30.0, "cli")


def test_wait_mode_without_any_duration_says_none(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    device.auto_trigger_on_armed(None)
    session = TriggerSession("wait", port, None, 1.0)
    session.arm()
    assert next_event(session) == Trigger(None)
    assert session.resolve_duration() == (None, "none")


def test_wait_mode_abort_stops_a_running_acquisition_once(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    device.auto_trigger_on_armed(None)
    session = TriggerSession("wait", port, 60.0, 1.0)
    session.arm()
    assert next_event(session) == Trigger(None)
    session.on_first_frame(17)
    device.send(b"ABORT\nABORT\n")
    assert next_event(session) == Abort()
    poll_until(session, lambda: session.ignored_messages == 1)
    assert session.aborted
    session.finish(2)
    assert device.wait_for_line(b"STOPPED", DEADLINE_S) == b"STOPPED 2"


def test_wait_mode_abort_before_the_trigger_is_accepted(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    session = TriggerSession("wait", port, 5.0, 1.0)
    session.arm()
    assert device.wait_for_line(b"ARMED", DEADLINE_S) == b"ARMED"
    device.send(b"ABORT\n")
    assert next_event(session) == Abort()
    session.finish(0)
    assert device.wait_for_line(b"STOPPED", DEADLINE_S) == b"STOPPED 0"


def test_wait_mode_ignores_messages_that_do_not_fit_the_state(
    device: SimulatedTriggerDevice, port: TriggerPort, caplog: pytest.LogCaptureFixture
) -> None:
    session = TriggerSession("wait", port, 5.0, 1.0)
    session.arm()
    assert device.wait_for_line(b"ARMED", DEADLINE_S) == b"ARMED"
    device.send(b"DURATION 3\nTRIGGER 1.5\nTRIGGER 9\nDURATION 4\n")
    with caplog.at_level(logging.WARNING):
        assert next_event(session) == Trigger(1.5)
        poll_until(session, lambda: session.ignored_messages == 3)
    assert session.resolve_duration() == (1.5, "device")
    assert "DURATION is only an answer to our TRIGGER in send mode" in caplog.text
    assert "TRIGGER is only expected while armed" in caplog.text


def test_garbage_and_floods_around_a_valid_trigger_still_trigger(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    session = TriggerSession("wait", port, 5.0, 1.0)
    session.arm()
    assert device.wait_for_line(b"ARMED", DEADLINE_S) == b"ARMED"
    # Well past the pty's 4 KiB input queue, so the flood also tests back-pressure.
    flood = (
        b"\xff\xfe\x00garbage\n"
        + b"x" * 5000
        + b"\nTRIGGER soon\nTRIGGER 5 extra\ntrigger\nTRIGGER -1\nTRIGGER nan\n"
        + b"HELLO\n" * 3000
        + b"\r\n\r\n"
        + b"TRIGGER 2.5\r\n"
        + b"NOISE\n" * 100
    )
    device.send(flood)
    assert next_event(session) == Trigger(2.5)
    assert port.invalid_lines >= 3000 + 6
    assert port.discarded_lines == 1
    poll_until(session, lambda: port.invalid_lines >= 3000 + 6 + 2 + 100)
    assert device.wait_sent(DEADLINE_S)


def test_port_loss_mid_session_is_reported_as_lost(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    device.auto_trigger_on_armed(None)
    session = TriggerSession("wait", port, 5.0, 1.0)
    session.arm()
    assert next_event(session) == Trigger(None)
    session.on_first_frame(3)
    assert device.wait_for_line(b"STARTED", DEADLINE_S) == b"STARTED 3"
    device.disconnect()
    assert next_event(session) == PortLost()
    assert session.port_lost
    assert session.poll(POLL_S) == PortLost()
    session.finish(1)
    assert session.info()["port_lost"] is True


# --- send mode: we start the other instrument --------------------------------------------------


def test_send_mode_uses_a_duration_answered_in_time(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    device.answer_duration(4.0)
    session = TriggerSession("send", port, 10.0, timeout_s=DEADLINE_S)
    session.arm()
    assert session.resolve_duration() == (10.0, "config")
    session.on_first_frame(0)
    assert device.wait_for_line(b"TRIGGER", DEADLINE_S) == b"TRIGGER 0"
    assert session.awaiting_duration()
    assert next_event(session) == Duration(4.0)
    assert not session.awaiting_duration()
    assert session.resolve_duration() == (4.0, "device")
    session.finish(3)
    assert device.received_lines == [b"TRIGGER 0"]


def test_send_mode_keeps_the_configured_duration_after_the_timeout_and_ignores_a_late_answer(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    clock = FakeClock()
    session = TriggerSession("send", port, 10.0, timeout_s=2.0, clock=clock)
    session.arm()
    session.on_first_frame(5)
    assert device.wait_for_line(b"TRIGGER", DEADLINE_S) == b"TRIGGER 5"
    clock.now += 1.0
    assert session.awaiting_duration()
    assert session.resolve_duration() == (10.0, "config")
    clock.now += 1.0
    assert not session.awaiting_duration()
    assert session.resolve_duration() == (10.0, "config")
    device.send(b"DURATION 4\n")
    poll_until(session, lambda: session.ignored_messages == 1)
    assert session.resolve_duration() == (10.0, "config")
    assert session.device_duration_s is None


def test_send_mode_late_answer_in_real_time_is_ignored(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    # The device answers only 0.5 s after receiving our TRIGGER: always after a 0.1 s window.
    device.answer_duration(4.0, delay_s=0.5)
    session = TriggerSession("send", port, 10.0, timeout_s=0.1, configured_source="cli")
    session.arm()
    session.on_first_frame(0)
    poll_until(session, lambda: not session.awaiting_duration())
    poll_until(session, lambda: session.ignored_messages == 1)
    assert session.resolve_duration() == (10.0, "cli")


def test_send_mode_never_reuses_a_duration_from_an_earlier_run(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    device.answer_duration(4.0)
    first = TriggerSession("send", port, 10.0, timeout_s=DEADLINE_S)
    first.arm()
    first.on_first_frame(0)
    assert next_event(first) == Duration(4.0)
    first.finish(1)

    device.answer_duration(None)
    clock = FakeClock()
    second = TriggerSession("send", port, 10.0, timeout_s=1.0, clock=clock)
    second.arm()
    second.on_first_frame(100)
    assert device.wait_for_line(b"TRIGGER", DEADLINE_S) == b"TRIGGER 0"
    assert device.wait_for_line(b"TRIGGER", DEADLINE_S) == b"TRIGGER 100"
    assert second.poll(POLL_S) is None
    clock.now += 1.0
    assert second.resolve_duration() == (10.0, "config")


def test_send_mode_ignores_a_trigger_from_the_device(
    device: SimulatedTriggerDevice, port: TriggerPort
) -> None:
    session = TriggerSession("send", port, 10.0, timeout_s=DEADLINE_S)
    session.arm()
    session.on_first_frame(0)
    assert device.wait_for_line(b"TRIGGER", DEADLINE_S) == b"TRIGGER 0"
    device.send(b"TRIGGER 3\nDURATION 6\n")
    assert next_event(session) == Duration(6.0)
    assert session.ignored_messages == 1


# --- the session's own contract ----------------------------------------------------------------


def test_session_refuses_steps_out_of_order(port: TriggerPort) -> None:
    session = TriggerSession("wait", port, 5.0, 1.0)
    with pytest.raises(RuntimeError, match="idle"):
        session.on_first_frame(0)
    session.arm()
    with pytest.raises(RuntimeError, match="armed"):
        session.on_first_frame(0)
    with pytest.raises(RuntimeError, match="armed"):
        session.arm()
    session.finish(0)
    session.finish(0)


@pytest.mark.parametrize(
    ("mode", "duration_s", "timeout_s"),
    [("none", 5.0, 1.0), ("wait", 0.0, 1.0), ("wait", float("nan"), 1.0), ("send", 5.0, -1.0)],
)
def test_session_refuses_bad_settings(
    port: TriggerPort, mode: str, duration_s: float, timeout_s: float
) -> None:
    with pytest.raises(ValueError):
        TriggerSession(mode, port, duration_s, timeout_s)  # type: ignore[arg-type]

"""What the trigger link expects at each moment of one run, kept apart from processes.

The trigger process drives one ``TriggerSession`` per run: ``arm`` → ``poll`` for events →
``on_first_frame`` → ``resolve_duration`` while acquiring → ``finish``. A message the device sends
at the wrong moment (``DURATION`` in wait mode, a second ``TRIGGER`` while running, a ``DURATION``
after the answer window closed) is logged and ignored, never acted on.

A fresh session per run is what guarantees that a duration from an earlier run is never reused;
stale input is also thrown away before ``ARMED`` and before our ``TRIGGER``, so a late answer
still sitting in the port's buffer cannot be taken for the new run's.

``ABORT`` is accepted in both modes from arming until the end of the run: an abort before the
trigger arrives means "stop waiting", which the trigger process handles like any clean stop.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lightsheet.hardware.trigger.lines import (
    Abort,
    DeviceMessage,
    Duration,
    LogThrottle,
    Trigger,
    format_armed,
    format_started,
    format_stopped,
    format_trigger,
)
from lightsheet.hardware.trigger.port import TriggerPort

logger = logging.getLogger(__name__)

SessionMode = Literal["wait", "send"]
DurationSource = Literal["device", "config", "cli", "none"]


@dataclass(frozen=True)
class PortLost:
    """The link to the device broke; the run must stop cleanly, keeping its data."""


SessionEvent = Trigger | Abort | Duration | PortLost


class SessionState(enum.Enum):
    IDLE = "idle"
    ARMED = "armed"
    TRIGGERED = "triggered"
    RUNNING = "running"
    FINISHED = "finished"


_ACTIVE = (SessionState.ARMED, SessionState.TRIGGERED, SessionState.RUNNING)


class TriggerSession:
    """One run's exchange with the trigger device, in wait or send mode.

    ``configured_duration_s`` is the duration that stands unless the device sends one;
    ``configured_source`` says whether it came from the config file or the command line, for the
    run's metadata. ``timeout_s`` is how long, in send mode, the device may take to answer our
    ``TRIGGER`` with ``DURATION``. ``clock`` is monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        mode: SessionMode,
        port: TriggerPort,
        configured_duration_s: float | None,
        timeout_s: float,
        configured_source: Literal["config", "cli"] = "config",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("wait", "send"):
            raise ValueError(f"trigger session mode must be 'wait' or 'send', got {mode!r}")
        if configured_duration_s is not None and not (
            math.isfinite(configured_duration_s) and configured_duration_s > 0
        ):
            raise ValueError(
                f"configured duration must be a positive number of seconds or None, "
                f"got {configured_duration_s!r}"
            )
        if not (math.isfinite(timeout_s) and timeout_s >= 0):
            raise ValueError(f"timeout must be a finite number of seconds >= 0, got {timeout_s!r}")
        if configured_source not in ("config", "cli"):
            raise ValueError(
                f"configured_source must be 'config' or 'cli', got {configured_source!r}"
            )
        self.mode: SessionMode = mode
        self.port = port
        self.configured_duration_s = configured_duration_s
        self.configured_source: Literal["config", "cli"] = configured_source
        self.timeout_s = timeout_s
        self.state = SessionState.IDLE
        self.first_frame_id: int | None = None
        self.device_duration_s: float | None = None
        self.aborted = False
        self.ignored_messages = 0
        self._clock = clock
        self._pending: deque[DeviceMessage] = deque()
        self._answer_deadline: float | None = None
        self._answer_window_closed = False
        self._ignored_log = LogThrottle()

    @property
    def port_lost(self) -> bool:
        return self.port.lost

    def arm(self) -> None:
        """Get ready for the run; in wait mode tell the device with ``ARMED``."""
        self._require_state("arm", SessionState.IDLE)
        self.port.discard_input()
        self.state = SessionState.ARMED
        if self.mode == "wait":
            self.port.send(format_armed())
        logger.info("trigger session armed (%s mode)", self.mode)

    def poll(self, timeout_s: float) -> SessionEvent | None:
        """Next event valid in the current state, waiting at most ``timeout_s`` for input.

        ``None`` means nothing valid arrived (poll again). ``PortLost`` is returned on every call
        once the link broke and all messages received before were handed out.
        """
        if not self._pending:
            if self.port.lost:
                return PortLost()
            self._pending.extend(self.port.read_messages(timeout_s))
        while self._pending:
            event = self._accept(self._pending.popleft())
            if event is not None:
                return event
        return PortLost() if self.port.lost else None

    def on_first_frame(self, frame_id: int) -> None:
        """The run's first frame is acquired: report it (wait) or start the device (send)."""
        if self.mode == "wait":
            self._require_state("report the first frame", SessionState.TRIGGERED)
            self.port.send(format_started(frame_id))
        else:
            self._require_state("report the first frame", SessionState.ARMED)
            message = format_trigger(frame_id)
            # An answer left over from an earlier exchange must not pass for this run's.
            self.port.discard_input()
            self.port.send(message)
            self._answer_deadline = self._clock() + self.timeout_s
        self.first_frame_id = frame_id
        self.state = SessionState.RUNNING

    def awaiting_duration(self, now: float | None = None) -> bool:
        """True while, in send mode, the device may still answer with ``DURATION``."""
        if self.mode != "send" or self.state is not SessionState.RUNNING:
            return False
        if self.device_duration_s is not None or self._answer_window_closed:
            return False
        if self._answer_deadline is None:
            return False
        if (self._clock() if now is None else now) >= self._answer_deadline:
            self._close_answer_window()
            return False
        return True

    def resolve_duration(self, now: float | None = None) -> tuple[float | None, DurationSource]:
        """The duration that stands at ``now`` and where it comes from.

        While ``awaiting_duration`` is true the configured duration stands provisionally; once
        the answer window has closed it stands for good. ``(None, "none")``: no duration at all,
        the run ends by volume count, the operator or the device.
        """
        self.awaiting_duration(now)
        if self.device_duration_s is not None:
            return self.device_duration_s, "device"
        if self.configured_duration_s is None:
            return None, "none"
        return self.configured_duration_s, self.configured_source

    def finish(self, volumes_saved: int) -> None:
        """End the run; in wait mode tell the device how many volumes were saved."""
        if self.state is SessionState.FINISHED:
            return
        if self.mode == "wait" and self.state in _ACTIVE:
            self.port.send(format_stopped(volumes_saved))
        self.state = SessionState.FINISHED
        self._pending.clear()
        logger.info("trigger session finished: %d volumes saved", volumes_saved)

    def info(self) -> dict[str, object]:
        """What the run's metadata records about the trigger."""
        duration_s, source = self.resolve_duration()
        return {
            "mode": self.mode,
            "port": self.port.name,
            "first_frame_id": self.first_frame_id,
            "duration_s": duration_s,
            "duration_source": source,
            "aborted_by_device": self.aborted,
            "port_lost": self.port.lost,
            "ignored_messages": self.ignored_messages,
            "invalid_lines": self.port.invalid_lines,
            "discarded_lines": self.port.discarded_lines,
        }

    def _accept(self, message: DeviceMessage) -> DeviceMessage | None:
        reason = self._rejection(message)
        if reason is not None:
            self.ignored_messages += 1
            if self._ignored_log.should_log():
                logger.warning(
                    "trigger session: ignored %s: %s (%d ignored so far)",
                    message,
                    reason,
                    self.ignored_messages,
                )
            return None
        if isinstance(message, Trigger):
            self.device_duration_s = message.duration_s
            self.state = SessionState.TRIGGERED
        elif isinstance(message, Duration):
            self.device_duration_s = message.duration_s
        else:
            self.aborted = True
        logger.info("trigger session: accepted %s", message)
        return message

    def _rejection(self, message: DeviceMessage) -> str | None:
        """Why ``message`` is not valid now, or None if it is."""
        state = self.state.value
        if isinstance(message, Abort):
            if self.state not in _ACTIVE:
                return f"nothing to abort while {state}"
            if self.aborted:
                return "already aborted"
            return None
        if isinstance(message, Trigger):
            if self.mode != "wait":
                return "in send mode lightsheet sends TRIGGER, the device does not"
            if self.state is not SessionState.ARMED:
                return f"TRIGGER is only expected while armed, not while {state}"
            return None
        if self.mode != "send":
            return "DURATION is only an answer to our TRIGGER in send mode"
        if self.state is not SessionState.RUNNING:
            return f"DURATION is only expected after our TRIGGER, not while {state}"
        if self.device_duration_s is not None:
            return "a duration was already received for this run"
        if not self.awaiting_duration():
            return f"it came after the {self.timeout_s:g} s answer window"
        return None

    def _close_answer_window(self) -> None:
        if not self._answer_window_closed:
            self._answer_window_closed = True
            logger.info(
                "trigger session: no DURATION within %g s; the %s duration stands",
                self.timeout_s,
                self.configured_source if self.configured_duration_s is not None else "(no)",
            )

    def _require_state(self, action: str, expected: SessionState) -> None:
        if self.state is not expected:
            raise RuntimeError(
                f"cannot {action} while the trigger session is {self.state.value}, "
                f"only while {expected.value}"
            )

"""The Session's side of the external trigger: arming, reading what the device said, metadata.

The trigger process only publishes what happened (triggered, a duration, an abort, a lost port)
on the status board; this module turns that into decisions the Session applies to the run.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, replace
from typing import Any

from lightsheet.hardware.trigger.port import TriggerPortError, open_trigger_port
from lightsheet.processes.commands import TriggerCommand
from lightsheet.processes.trigger import DURATION_SOURCES, TriggerWorker
from lightsheet.runtime.status import StatusBoard


class TriggerPortUnusable(Exception):
    """The configured trigger port cannot be opened; the message names it and why."""


def check_port(trigger_config: Any) -> None:
    """Open and close the port once, so a wrong port is bad input before anything starts."""
    try:
        port = open_trigger_port(
            trigger_config.port, trigger_config.baudrate, trigger_config.timeout_s
        )
    except (TriggerPortError, ValueError) as exc:
        raise TriggerPortUnusable(str(exc)) from None
    port.close()


@dataclass(frozen=True)
class TriggerNews:
    """What changed for the run since the last look."""

    started: bool  # the trigger fired (wait) or was sent (send)
    duration_s: float | None  # the duration that now stands, if it changed
    aborted: bool
    port_lost: bool


class TriggerLink:
    """Commands to the trigger process and interpretation of its status fields."""

    def __init__(self, worker: TriggerWorker, status: StatusBoard, mode: str) -> None:
        self.worker = worker
        self.mode = mode
        self._status = status
        self._seq = 0
        self._run = 0
        self._seen_duration: float | None = None
        self._seen_started = False
        self._seen_abort = False
        self._seen_lost = False

    def arm(self, run: int, duration_s: float | None, source: str) -> None:
        """Arm for ``run``; the process sets ``trigger.armed`` to ``run`` once it has."""
        self._run = run
        self._seen_duration = duration_s
        self._seen_started = self._seen_abort = self._seen_lost = False
        self._send(TriggerCommand(0, "arm", run, duration_s, source))

    def finish(self, volumes_saved: int) -> None:
        self._send(TriggerCommand(0, "finish", self._run, volumes_saved=volumes_saved))

    @property
    def started(self) -> bool:
        return self._status.get("trigger.fired") == self._run

    def news(self) -> TriggerNews:
        values = self._status.snapshot()
        run = self._run
        started = values["trigger.fired"] == run and not self._seen_started
        aborted = values["trigger.abort"] == run and not self._seen_abort
        lost = values["trigger.port_lost"] == run and not self._seen_lost
        raw = values["trigger.duration_s"]
        duration = None if raw < 0 else float(raw)
        changed = duration is not None and (
            self._seen_duration is None or not math.isclose(duration, self._seen_duration)
        )
        self._seen_started |= started
        self._seen_abort |= aborted
        self._seen_lost |= lost
        if changed:
            self._seen_duration = duration
        return TriggerNews(started, duration if changed else None, aborted, lost)

    def info(self) -> dict[str, Any]:
        """The run's trigger metadata: mode, port, time, frame id and where the duration came
        from."""
        values = self._status.snapshot()
        fired = values["trigger.fired"] == self._run
        duration = values["trigger.duration_s"]
        first = values["trigger.first_frame_id"]
        return {
            "mode": self.mode,
            "port": self.worker.port_name,
            "triggered": fired,
            "trigger_time": _iso(values["trigger.time"]) if fired else None,
            "frame_id_at_trigger": int(first) if first >= 0 else None,
            "duration_s": None if duration < 0 else duration,
            "duration_source": DURATION_SOURCES[int(values["trigger.duration_source"])],
            "aborted_by_device": values["trigger.abort"] == self._run,
            "port_lost": values["trigger.port_lost"] == self._run,
            "ignored_messages": int(values["trigger.ignored"]),
            "invalid_lines": int(values["trigger.invalid_lines"]),
        }

    def _send(self, command: TriggerCommand) -> None:
        self._seq += 1
        self.worker.send_settings(replace(command, seq=self._seq))


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")

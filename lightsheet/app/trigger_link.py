"""The main process's side of the external trigger: arming, reading what the device said, metadata.

The trigger process only publishes what happened (triggered, a duration, an abort, a lost port)
on its status section; this module turns that into news the run applies (new volume count,
clean stop, fault).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

from lightsheet.config import TriggerConfig
from lightsheet.hardware.trigger.port import TriggerPortError, open_trigger_port
from lightsheet.processes.commands import FinishTrigger, TriggerState
from lightsheet.processes.status import TriggerStatus
from lightsheet.processes.trigger import DURATION_SOURCES
from lightsheet.runtime.process_link import ProcessLink
from lightsheet.runtime.status import StatusBoard


class TriggerPortUnusable(Exception):
    """The configured trigger port cannot be opened; the message names it and why."""


def check_port(trigger_config: TriggerConfig) -> None:
    """Open and close the port once, so a wrong port is bad input before anything starts."""
    if not trigger_config.port:
        raise TriggerPortUnusable("no port configured")
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
    """Arms the trigger process for a run and reads its status fields as news."""

    def __init__(
        self,
        link: ProcessLink[TriggerState, FinishTrigger],
        status: StatusBoard,
        config: TriggerConfig,
    ) -> None:
        self._link = link
        self.mode = config.mode
        self._port = str(config.port)
        self._status = status.section(TriggerStatus)
        self._run = 0
        self._seen_duration: float | None = None
        self._seen_started = False
        self._seen_abort = False
        self._seen_lost = False

    def arm(self, run: int, duration_s: float | None, source: str) -> None:
        """Arm for ``run``; returns once the trigger process has (wait mode: ARMED is out)."""
        self._run = run
        self._seen_duration = duration_s
        self._seen_started = self._seen_abort = self._seen_lost = False
        self._link.set_state(TriggerState(run, duration_s, "cli" if source == "cli" else "config"))

    def finish(self, run: int, volumes_saved: int) -> None:
        self._link.send(FinishTrigger(run, volumes_saved))

    @property
    def started(self) -> bool:
        return self._status.fired == self._run

    def news(self) -> TriggerNews:
        status, run = self._status.copy(), self._run
        started = status.fired == run and not self._seen_started
        aborted = status.abort == run and not self._seen_abort
        lost = status.port_lost == run and not self._seen_lost
        duration = None if status.duration_s < 0 else float(status.duration_s)
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
        status = self._status.copy()
        fired = status.fired == self._run
        first = status.first_frame_id
        return {
            "mode": self.mode,
            "port": self._port,
            "triggered": fired,
            "trigger_time": _iso(status.time) if fired else None,
            "frame_id_at_trigger": first if first >= 0 else None,
            "duration_s": None if status.duration_s < 0 else status.duration_s,
            "duration_source": DURATION_SOURCES[status.duration_source],
            "aborted_by_device": status.abort == self._run,
            "port_lost": status.port_lost == self._run,
            "ignored_messages": status.ignored,
            "invalid_lines": status.invalid_lines,
        }


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")

"""The external-trigger process: the serial link to another instrument, one TriggerSession per run.

Wait mode: armed, it tells the device ``ARMED``; on ``TRIGGER`` it publishes the device's duration
and opens the start gate, which the scanner (and a free-running camera) wait on, so acquisition
starts within milliseconds without a round trip through the main process. Send mode: when the
camera reports the run's first frame it sends ``TRIGGER <frame_id>`` and publishes a ``DURATION``
answer if one comes in time. What the device sends is only ever published on the status board;
the Session decides what it means for the run (new volume count, clean stop, fault).
"""

from __future__ import annotations

import time
from typing import Any

from lightsheet.hardware.trigger.lines import Abort, Duration, Trigger
from lightsheet.hardware.trigger.port import TriggerPort, TriggerPortError, open_trigger_port
from lightsheet.hardware.trigger.session import PortLost, SessionState, TriggerSession
from lightsheet.processes.commands import TriggerCommand
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

POLL_S = 0.02
DURATION_SOURCES = ("none", "config", "cli", "device")

TRIGGER_STATUS = (
    "trigger.ack",  # seq of the last command applied
    "trigger.armed",  # run armed
    "trigger.fired",  # run whose acquisition the trigger started (wait) or that we announced
    "trigger.time",  # time.time() of that moment
    "trigger.first_frame_id",
    "trigger.duration_s",  # the duration that stands (-1: none)
    "trigger.duration_source",  # index into DURATION_SOURCES
    "trigger.abort",  # run the device aborted
    "trigger.port_lost",  # run during which the link broke
    "trigger.ignored",  # messages ignored in this run (wrong moment, garbage)
    "trigger.invalid_lines",
)


class TriggerWorker(Worker):
    """Owns the trigger port; never blocks longer than one poll, whatever the device sends."""

    def __init__(
        self,
        trigger_config: Any,
        status: StatusBoard,
        gate: LoggedEvent,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("trigger", **worker_kwargs)
        self._config = trigger_config
        self._status = status
        self._gate = gate

    @property
    def port_name(self) -> str:
        return str(self._config.port)

    # -- child side ---------------------------------------------------------------------------

    def setup(self) -> None:
        cfg = self._config
        self._port: TriggerPort = open_trigger_port(cfg.port, cfg.baudrate, cfg.timeout_s)
        self._session: TriggerSession | None = None
        self._run = 0
        self.log.info("trigger port %s open (%s mode)", cfg.port, cfg.mode)

    def on_settings(self, settings: object) -> None:
        assert isinstance(settings, TriggerCommand)
        command = settings
        if command.action == "arm":
            self._finish(0)
            self._arm(command)
        elif command.action == "finish" and command.run == self._run:
            self._finish(command.volumes_saved)
        self._status.set("trigger.ack", command.seq)

    def step(self) -> None:
        session = self._session
        if session is None or session.state is SessionState.FINISHED:
            if session is not None and not self._port.lost:
                # Between runs: keep the input drained so a flood cannot pile up for the next.
                self._port.read_messages(POLL_S)
            else:
                self.stop_event.wait(POLL_S)
            return
        event = session.poll(POLL_S)
        if isinstance(event, Trigger):
            self._publish_duration(session)
            self._status.set("trigger.time", time.time())
            self._status.set("trigger.fired", self._run)
            self._gate.set()
        elif isinstance(event, Duration):
            self._publish_duration(session)
        elif isinstance(event, Abort):
            self._status.set("trigger.abort", self._run)
        elif isinstance(event, PortLost) and self._status.get("trigger.port_lost") != self._run:
            self.log.error("trigger port %s lost during run %d", self._port.name, self._run)
            self._status.set("trigger.port_lost", self._run)
        self._watch_first_frame(session)
        if session.mode == "send" and not session.awaiting_duration():
            self._publish_duration(session)
        self._status.set("trigger.ignored", session.ignored_messages)
        self._status.set("trigger.invalid_lines", self._port.invalid_lines)

    def teardown(self) -> None:
        port = getattr(self, "_port", None)
        if port is not None:
            port.close()

    # -- helpers ------------------------------------------------------------------------------

    def _arm(self, command: TriggerCommand) -> None:
        self._run = command.run
        for name in ("trigger.fired", "trigger.abort", "trigger.port_lost"):
            self._status.set(name, 0)
        self._status.set("trigger.first_frame_id", -1)
        self._status.set("trigger.duration_s", -1)
        session = TriggerSession(
            self._config.mode,
            self._port,
            command.duration_s,
            self._config.timeout_s,
            configured_source=command.duration_source,
        )
        self._session = session
        self._publish_duration(session)
        try:
            session.arm()
        except TriggerPortError as exc:
            self.log.error("could not arm: %s", exc)
        if self._port.lost:
            self._status.set("trigger.port_lost", self._run)
        self._status.set("trigger.armed", self._run)

    def _watch_first_frame(self, session: TriggerSession) -> None:
        expected = SessionState.TRIGGERED if session.mode == "wait" else SessionState.ARMED
        if session.state is not expected:
            return
        if self._status.get("camera.run") != self._run:
            return
        first = self._status.get("camera.first_frame_id")
        if self._status.get("camera.last_frame_id") < 0 or first < 0:
            return
        session.on_first_frame(int(first))
        self._status.set("trigger.first_frame_id", first)
        if session.mode == "send":
            self._status.set("trigger.time", time.time())
            self._status.set("trigger.fired", self._run)

    def _publish_duration(self, session: TriggerSession) -> None:
        duration, source = session.resolve_duration()
        self._status.set("trigger.duration_s", -1 if duration is None else duration)
        self._status.set("trigger.duration_source", DURATION_SOURCES.index(source))

    def _finish(self, volumes_saved: int) -> None:
        session = self._session
        if session is None or session.state is SessionState.FINISHED:
            return
        session.finish(volumes_saved)
        self.log.info("run %d: trigger session finished (%s)", self._run, session.info())

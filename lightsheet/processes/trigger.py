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

from lightsheet.config import TriggerConfig
from lightsheet.hardware.trigger.lines import Abort, Duration, Trigger
from lightsheet.hardware.trigger.port import TriggerPort, TriggerPortError, open_trigger_port
from lightsheet.hardware.trigger.session import PortLost, SessionState, TriggerSession
from lightsheet.processes.commands import FinishTrigger, TriggerState
from lightsheet.processes.status import CameraStatus, TriggerStatus
from lightsheet.runtime.commands import CommandRefused
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

POLL_S = 0.02
DURATION_SOURCES = ("none", "config", "cli", "device")


class TriggerWorker(Worker):
    """Owns the trigger port; never blocks longer than one poll, whatever the device sends."""

    def __init__(
        self,
        trigger_config: TriggerConfig,
        status: StatusBoard,
        gate: LoggedEvent,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("trigger", **worker_kwargs)
        self._config = trigger_config
        self._board = status
        self._gate = gate

    @property
    def port_name(self) -> str:
        return str(self._config.port)

    # -- child side ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._status = self._board.section(TriggerStatus)
        self._camera = self._board.section(CameraStatus)
        cfg = self._config
        if cfg.port is None:
            raise ValueError("trigger.port is not set")
        self._port: TriggerPort = open_trigger_port(cfg.port, cfg.baudrate, cfg.timeout_s)
        self._session: TriggerSession | None = None
        self._run = 0
        self.log.info("trigger port %s open (%s mode)", cfg.port, cfg.mode)

    def on_settings(self, settings: object) -> object:
        if not isinstance(settings, TriggerState):
            raise CommandRefused(f"not a trigger state: {type(settings).__name__}")
        if settings.run != self._run:
            self._finish(0)
            if settings.run:
                self._arm(settings)
            self._run = settings.run
        return None

    def on_command(self, command: object) -> object:
        if not isinstance(command, FinishTrigger):
            raise CommandRefused(f"unknown trigger command {type(command).__name__}")
        if command.run == self._run:
            self._finish(command.volumes_saved)
        return None

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
        status = self._status
        if isinstance(event, Trigger):
            self._publish_duration(session)
            status.time = time.time()
            status.fired = self._run
            self._gate.set()
        elif isinstance(event, Duration):
            self._publish_duration(session)
        elif isinstance(event, Abort):
            status.abort = self._run
        elif isinstance(event, PortLost) and status.port_lost != self._run:
            self.log.error("trigger port %s lost during run %d", self._port.name, self._run)
            status.port_lost = self._run
        self._watch_first_frame(session)
        if session.mode == "send" and not session.awaiting_duration():
            self._publish_duration(session)
        status.ignored = session.ignored_messages
        status.invalid_lines = self._port.invalid_lines

    def teardown(self) -> None:
        port = getattr(self, "_port", None)
        if port is not None:
            port.close()

    # -- helpers ------------------------------------------------------------------------------

    def _arm(self, state: TriggerState) -> None:
        self._run = state.run
        status = self._status
        status.reset(TriggerStatus.fired, TriggerStatus.abort, TriggerStatus.port_lost)
        status.reset(TriggerStatus.first_frame_id, TriggerStatus.duration_s)
        mode = self._config.mode
        if mode == "none":
            raise CommandRefused("trigger.mode is none: there is nothing to arm")
        session = TriggerSession(
            mode,
            self._port,
            state.duration_s,
            self._config.timeout_s,
            configured_source=state.duration_source,
        )
        self._session = session
        self._publish_duration(session)
        try:
            session.arm()
        except TriggerPortError as exc:
            self.log.error("could not arm: %s", exc)
        if self._port.lost:
            status.port_lost = self._run

    def _watch_first_frame(self, session: TriggerSession) -> None:
        expected = SessionState.TRIGGERED if session.mode == "wait" else SessionState.ARMED
        if session.state is not expected:
            return
        camera = self._camera
        if camera.run != self._run:
            return
        first = camera.first_frame_id
        if camera.last_frame_id < 0 or first < 0:
            return
        session.on_first_frame(first)
        self._status.first_frame_id = first
        if session.mode == "send":
            self._status.time = time.time()
            self._status.fired = self._run

    def _publish_duration(self, session: TriggerSession) -> None:
        duration, source = session.resolve_duration()
        self._status.duration_s = -1 if duration is None else duration
        self._status.duration_source = DURATION_SOURCES.index(source)

    def _finish(self, volumes_saved: int) -> None:
        session = self._session
        if session is None or session.state is SessionState.FINISHED:
            return
        session.finish(volumes_saved)
        self.log.info("run %d: trigger session finished (%s)", self._run, session.info())

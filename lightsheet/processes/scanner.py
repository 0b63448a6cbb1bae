"""The scanner process: owns the DAQ board, plays the waveforms of the current mode.

The waveform set is computed and limit-checked in the main process (so a violation is refused
before anything is sent here) and arrives whole in a ``ScannerState``; the board checks it again
before it reaches the outputs. Every new state stops the generation and restarts it from sample
0, so a volume always starts at plane 0. The board goes to its safe values (lasers blanked) in
paused mode, on any error, and in teardown — which also runs when the supervisor stops this
process first after a fault, or when the main process dies. A state the board refuses is
answered with the board's reason; the outputs are then safe and the process goes on.

Nothing here blocks for a scan period, however slow the scan (a period lasts 100 s at 0.01
volumes/s): the piezo read-back is taken only when a whole period is ready, so the loop beats,
and acts on a new state (pause: lasers blanked) within one poll.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lightsheet.config import DaqConfig
from lightsheet.hardware.daq.factory import open_daq_board
from lightsheet.hardware.daq.protocol import DaqBoard
from lightsheet.processes.commands import BoardSessions, MeasurePiezo, ScannerState
from lightsheet.processes.status import ScannerStatus
from lightsheet.runtime.commands import DEFERRED, CommandRefused
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

MODE_CODES = {"paused": 0, "calibration": 1, "planar": 2, "volumetric": 3, "measure": 4}
READBACK_EVERY_S = 0.5
POLL_S = 0.02
MEASURE_MARGIN_S = 5.0  # beyond two periods, a read-back that has not come is a board fault




class ScannerWorker(Worker):
    """Drives the DAQ board; the only process that touches the galvos, piezo and laser lines."""

    def __init__(
        self,
        daq_config: DaqConfig,
        status: StatusBoard,
        initial: ScannerState,
        link_name: str | None = None,
        gate: LoggedEvent | None = None,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("scanner", **worker_kwargs)
        self._gate = gate
        self._daq_config = daq_config
        self._board_status = status
        self._initial = initial
        self._link_name = link_name

    # -- child side ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._status = self._board_status.section(ScannerStatus)
        self._board: DaqBoard = open_daq_board(self._daq_config, link_name=self._link_name)
        self._state = ScannerState("paused")
        self._last_readback = 0.0
        self._waiting_for_gate = False
        self._measuring: tuple[tuple[int, Any], float] | None = None  # (reply to, deadline)
        self.log.info("DAQ board %s configured, outputs safe", self._daq_config.backend)
        if self._board.session_names:
            self.notify(BoardSessions(self._board.session_names))
        self.on_settings(self._initial)

    def on_settings(self, settings: object) -> object:
        if not isinstance(settings, ScannerState):
            raise CommandRefused(f"not a scanner state: {type(settings).__name__}")
        self._abandon_measurement(f"replaced by {settings.mode}")
        try:
            self._apply(settings)
        except Exception as exc:  # a refused waveform or a board error: safe, say why, go on
            self._go_safe()
            self.log.error("%s refused, outputs safe: %s", settings.summary(), exc)
            raise CommandRefused(f"the DAQ board refused {settings.mode}: {exc}") from None
        self._state = settings
        self._status.mode = MODE_CODES[settings.mode]
        self._status.running = int(self._board.is_running)
        return None

    def on_command(self, command: object) -> object:
        if not isinstance(command, MeasurePiezo):
            raise CommandRefused(f"unknown scanner command {type(command).__name__}")
        self._abandon_measurement("replaced by a new measurement")
        try:
            return self._start_measurement(command)
        except Exception as exc:
            self._go_safe()
            raise CommandRefused(f"measuring the piezo failed: {exc}") from None

    def step(self) -> None:
        if self._measuring is not None:
            self._continue_measurement()
            return
        if self._waiting_for_gate:
            if self._gate is not None and self._gate.wait(0.005):
                self._waiting_for_gate = False
                self._board.start()
                self._status.running = 1
                self.log.info("start gate open: scan started")
            return
        # The board regenerates on its own; this loop only samples the piezo read-back now and
        # then, so the operator sees where the stage really is.
        board = self._board
        if not board.is_running or board.settings is None or board.settings.readback is None:
            self.stop_event.wait(0.05)
            return
        now = time.monotonic()
        if now - self._last_readback < READBACK_EVERY_S or not board.piezo_period_ready():
            self.stop_event.wait(POLL_S)
            return
        self._last_readback = now
        piezo = board.read_piezo_um()
        if piezo is not None and piezo.size:
            self._status.piezo_um = float(np.mean(piezo))

    def teardown(self) -> None:
        board = getattr(self, "_board", None)
        if board is not None:
            board.close()  # safe values first, then release
            self.log.info("DAQ board closed, outputs safe")

    # -- helpers ------------------------------------------------------------------------------

    def _go_safe(self) -> None:
        self._waiting_for_gate = False
        self._board.set_safe()
        self._status.running = 0
        self._status.mode = MODE_CODES["paused"]
        self._state = ScannerState("paused")

    def _apply(self, state: ScannerState) -> None:
        board = self._board
        self._waiting_for_gate = False
        if board.is_running:
            board.stop()
        if state.mode == "paused":
            board.stop()  # also from static outputs: every output to its safe value
            self.log.info("paused: outputs safe")
            return
        if state.mode == "calibration":
            if state.static is None:
                raise ValueError("calibration needs the static output values")
            board.set_static(state.static)
            self.log.info("calibration outputs: %s", state.summary())
            return
        if state.channels is None:
            raise ValueError(f"{state.mode} needs waveforms")
        board.write(state.channels)
        if state.gated and self._gate is not None and not self._gate.is_set():
            self._waiting_for_gate = True
            self.log.info("%s: waveforms loaded, waiting for the start gate", state.mode)
            return
        board.start()
        self.log.info("%s: playing (run %d)", state.mode, state.run)

    def _start_measurement(self, command: MeasurePiezo) -> object:
        """Play the given period (camera trigger and laser off); the answer, one whole period
        of where the piezo really went, comes from ``step`` once the board recorded it."""
        board = self._board
        if board.is_running:
            board.stop()
        if board.settings is None or board.settings.readback is None:
            return None  # nothing to measure with: the caller plays the commanded waveforms
        board.write(command.channels)
        board.start()
        self._status.mode = MODE_CODES["measure"]
        self._state = ScannerState("paused")
        period_s = len(next(iter(command.channels.values()))) / board.settings.sample_rate_hz
        self._measuring = (self.current_seq, time.monotonic() + 2 * period_s + MEASURE_MARGIN_S)
        self.log.info("measuring the piezo over one period of %.3g s", period_s)
        return DEFERRED

    def _continue_measurement(self) -> None:
        assert self._measuring is not None
        reply_to, deadline = self._measuring
        board = self._board
        if board.piezo_period_ready():
            self._measuring = None
            try:
                readback = board.read_piezo_um()
            except Exception as exc:
                self._go_safe()
                self.reply(reply_to, refused=f"reading the piezo failed: {exc}")
                return
            board.stop()
            self._status.mode = MODE_CODES["paused"]
            samples = "no" if readback is None else readback.size
            self.log.info("piezo measured over one period (%s samples)", samples)
            self.reply(reply_to, readback)
        elif time.monotonic() > deadline:
            self._measuring = None
            self._go_safe()
            self.reply(reply_to, refused="the piezo read-back did not come within two periods")
        else:
            self.stop_event.wait(POLL_S)

    def _abandon_measurement(self, why: str) -> None:
        if self._measuring is not None:
            reply_to, _ = self._measuring
            self._measuring = None
            self.reply(reply_to, refused=f"measurement {why}")

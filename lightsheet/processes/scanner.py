"""The scanner process: owns the DAQ board, plays the waveforms of the current mode.

The waveform set is computed and limit-checked in the main process (so a violation is refused
before anything is sent here) and arrives whole in a ``ScannerCommand``; the board checks it
again before it reaches the outputs. Every new command stops the generation and restarts it from
sample 0, so a volume always starts at plane 0. The board goes to its safe values (lasers
blanked) in paused mode, on any error, and in teardown — which also runs when the supervisor
stops this process first after a fault, or when the main process dies.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lightsheet.hardware.daq.factory import open_daq_board
from lightsheet.hardware.daq.protocol import DaqBoard
from lightsheet.processes.commands import ScannerCommand
from lightsheet.runtime.channels import LoggedQueue
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

SCANNER_STATUS = (
    "scanner.ack",  # sequence number of the last command applied
    "scanner.mode",  # 0 paused, 1 calibration, 2 planar, 3 volumetric
    "scanner.running",  # 1 while the board regenerates waveforms
    "scanner.error",  # sequence number of the last command that failed (see the log)
    "scanner.piezo_um",  # mean measured piezo position of the last period read back
)
MODE_CODES = {"paused": 0, "calibration": 1, "planar": 2, "volumetric": 3, "measure": 4}
READBACK_EVERY_S = 0.5


class ScannerWorker(Worker):
    """Drives the DAQ board; the only process that touches the galvos, piezo and laser lines."""

    def __init__(
        self,
        daq_config: Any,
        status: StatusBoard,
        initial: ScannerCommand,
        link_name: str | None = None,
        gate: LoggedEvent | None = None,
        replies: LoggedQueue | None = None,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("scanner", **worker_kwargs)
        self._gate = gate
        self._replies = replies
        self._daq_config = daq_config
        self._status = status
        self._initial = initial
        self._link_name = link_name

    # -- child side ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._board: DaqBoard = open_daq_board(self._daq_config, link_name=self._link_name)
        self._command = ScannerCommand(seq=0, mode="paused")
        self._last_readback = 0.0
        self._waiting_for_gate = False
        self.log.info("DAQ board %s configured, outputs safe", self._daq_config.backend)
        self.on_settings(self._initial)

    def on_settings(self, settings: object) -> None:
        assert isinstance(settings, ScannerCommand)
        command = settings
        try:
            self._apply(command)
        except Exception as exc:  # a refused waveform or a board error: safe, say why, go on
            self._board.set_safe()
            self._status.set("scanner.running", 0)
            self._status.set("scanner.mode", MODE_CODES["paused"])
            self._status.set("scanner.error", command.seq)
            self.log.error("command %d (%s) refused, outputs safe: %s", command.seq,
                           command.mode, exc)
            self._command = ScannerCommand(seq=command.seq, mode="paused")
        else:
            self._command = command
            self._status.set("scanner.mode", MODE_CODES[command.mode])
            self._status.set("scanner.running", int(self._board.is_running))
        self._status.set("scanner.ack", command.seq)

    def step(self) -> None:
        if self._waiting_for_gate:
            if self._gate is not None and self._gate.wait(0.005):
                self._waiting_for_gate = False
                self._board.start()
                self._status.set("scanner.running", 1)
                self.log.info("start gate open: scan started")
            return
        # The board regenerates on its own; this loop only samples the piezo read-back now and
        # then, so the operator sees where the stage really is.
        if not self._board.is_running or self._board.settings is None:
            self.stop_event.wait(0.05)
            return
        if self._board.settings.readback is None:
            self.stop_event.wait(0.05)
            return
        now = time.monotonic()
        if now - self._last_readback < READBACK_EVERY_S:
            self.stop_event.wait(min(0.05, READBACK_EVERY_S))
            return
        self._last_readback = now
        piezo = self._board.read_piezo_um()
        if piezo is not None and piezo.size:
            self._status.set("scanner.piezo_um", float(np.mean(piezo)))

    def teardown(self) -> None:
        board = getattr(self, "_board", None)
        if board is not None:
            board.close()  # safe values first, then release
            self.log.info("DAQ board closed, outputs safe")

    # -- helpers ------------------------------------------------------------------------------

    def _apply(self, command: ScannerCommand) -> None:
        board = self._board
        self._waiting_for_gate = False
        if command.mode == "paused":
            board.stop()
            self.log.info("paused: outputs safe")
            return
        if command.mode == "calibration":
            assert command.static is not None
            if board.is_running:
                board.stop()
            board.set_static(command.static)
            self.log.info("calibration outputs: %s", _volts(command.static))
            return
        assert command.channels is not None
        if board.is_running:
            board.stop()
        if command.mode == "measure":
            self._measure(command)
            return
        board.write(command.channels)
        if command.gated and self._gate is not None and not self._gate.is_set():
            self._waiting_for_gate = True
            self.log.info("%s: waveforms loaded, waiting for the start gate", command.mode)
            return
        board.start()
        self.log.info(
            "%s: playing %d samples per period (run %d)",
            command.mode,
            len(next(iter(command.channels.values()))),
            command.run,
        )


    def _measure(self, command: ScannerCommand) -> None:
        """Play the given period (camera trigger and laser off) and reply with where the piezo
        really went over one whole period, for the z-galvo feed-forward."""
        board = self._board
        board.write(command.channels)
        board.start()
        try:
            readback = board.read_piezo_um()
        finally:
            board.stop()
        if self._replies is not None:
            self._replies.put((command.seq, readback))
        self.log.info("piezo measured over one period (%s samples)",
                      "no" if readback is None else readback.size)


def _volts(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4g} V" for name, value in values.items())

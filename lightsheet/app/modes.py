"""The rig's modes and how the processes are brought into each, one logged transition at a time.

Modes: paused (outputs safe, camera idle), calibration (static outputs set by the operator,
camera free-running), planar and volumetric (waveforms played, camera previewing). A run or a dark
frame borrows the rig and gives it back to the operator's mode afterwards. Every transition is a
line in the log (``mode: volumetric -> planar (operator)``).

Bringing the processes into a mode follows one rule: the camera is armed before the scan starts,
so the first frame after a change is plane 0 of a volume; a free-running camera gets light first,
so no frame is dark. ``update`` applies the settings that need no restart (exposure of a
free-running camera, preview rate, dark subtraction) to the running processes without a mode
switch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from lightsheet.app.pipeline import Pipeline
from lightsheet.app.planning import frame_rate_hz, frame_shape, free_running_fps, imaged_planes
from lightsheet.app.scan_plan import calibration_outputs, measuring_period, scan_waveforms
from lightsheet.config import RigConfig
from lightsheet.processes.commands import (
    CameraState,
    DispatcherState,
    MeasurePiezo,
    ScannerMode,
    ScannerState,
    TakeDark,
)
from lightsheet.runtime.process_link import ACK_TIMEOUT_S
from lightsheet.scanning.waveforms import WaveformSet

log = logging.getLogger("lightsheet.modes")

MODES = ("paused", "calibration", "planar", "volumetric")
SCAN_MODES = ("planar", "volumetric")


class ModeMachine:
    """Knows the operator's mode and the desired state it last gave each process."""

    def __init__(
        self,
        pipeline: Pipeline,
        config: Callable[[], RigConfig],
        next_epoch: Callable[[], int],
    ) -> None:
        self._pipeline = pipeline
        self._config = config
        self._next_epoch = next_epoch
        self.mode = "paused"
        self.busy: str | None = None  # "run" or "dark" while the rig is lent out
        self.static: dict[str, float] | None = None  # calibration outputs
        self.subtract_dark = False
        self._measured: dict[str, np.ndarray | None] = {}  # piezo read-back per played period
        self.camera_state = CameraState("paused", config().camera)
        self.dispatcher_state = self._dispatcher("idle", 1)

    # -- transitions ----------------------------------------------------------------------------

    def set_mode(self, mode: str, why: str = "operator") -> None:
        """Switch to ``mode`` (the caller checked it can run) and bring the processes into it."""
        if mode != self.mode:
            log.info("mode: %s -> %s (%s)", self.mode, mode, why)
        self.mode = mode
        self.apply()

    def lend(self, to: str) -> None:
        """A run or a dark frame takes the rig: the scan and the camera stop first."""
        log.info("mode: %s -> %s", self.mode, to)
        self.busy = to
        self._quiet()

    def give_back(self) -> None:
        """The run or dark frame is over: back to the operator's mode."""
        if self.busy is not None:
            log.info("mode: %s -> %s (back to the operator's mode)", self.busy, self.mode)
        self.busy = None
        self.apply()

    def apply(self) -> None:
        """Bring every process to the current mode."""
        mode = self.mode
        self._quiet()
        if mode == "paused":
            self.set_dispatcher(self._dispatcher("idle", 1))
            return
        planes = 1 if mode == "calibration" else imaged_planes(self._config(), mode)
        self.set_dispatcher(self._dispatcher("preview", planes, preview=True))
        if mode == "calibration" or self._config().camera.trigger_mode == "internal":
            self._start_scan(mode)  # a free-running camera: light first
            self.set_camera(self.camera_preview(internal=True))
            return
        self.set_camera(self.camera_preview())
        self._start_scan(mode)

    def update(self) -> None:
        """Settings that need no restart, sent to the running processes (exposure, preview rate,
        dark subtraction); a process applies what differs from its current state."""
        config = self._config()
        if self.camera_state.mode != "paused":
            camera = config.camera
            if self.camera_state.camera.trigger_mode != camera.trigger_mode:
                camera = camera.model_copy(update={"trigger_mode": "internal"})
            self.set_camera(replace(self.camera_state, camera=camera))
        self.set_dispatcher(
            replace(
                self.dispatcher_state,
                subtract_dark=self.subtract_dark,
                preview_hz=config.buffers.preview_hz,
            )
        )

    def acquire_dark(self, frames: int, timeout_s: float) -> None:
        """Average ``frames`` frames with the lasers blanked; the mode is restored afterwards."""
        self.lend("dark")
        try:
            camera = self.camera_preview(internal=True)
            pending = self._pipeline.dispatcher.post(TakeDark(frames, camera.run))
            self.set_camera(camera)
            pending.wait(timeout_s)
        finally:
            self.give_back()

    def forget_measurements(self) -> None:
        """The piezo or its board changed: measure again before the next volumetric scan."""
        self._measured.clear()

    # -- what each process is told -------------------------------------------------------------

    def set_camera(self, state: CameraState) -> None:
        self._pipeline.camera.set_state(state)
        self.camera_state = state

    def set_dispatcher(self, state: DispatcherState) -> None:
        self._pipeline.dispatcher.set_state(state)
        self.dispatcher_state = state

    def set_scanner(self, mode: ScannerMode, ws: WaveformSet | None = None, run: int = 0,
                    gated: bool = False) -> None:  # fmt: skip
        channels = None if ws is None else ws.channels
        static = self.static if mode == "calibration" else None
        self._pipeline.scanner.set_state(ScannerState(mode, channels, static, run, gated))

    def camera_preview(self, internal: bool = False) -> CameraState:
        """A new preview epoch; free-running in calibration and dark (no trigger pulses come)."""
        config = self._config()
        camera = config.camera
        if internal and camera.trigger_mode != "internal":
            camera = camera.model_copy(update={"trigger_mode": "internal"})
        if camera.trigger_mode == "external":
            expected = frame_rate_hz(config, self.mode)
        else:
            expected = free_running_fps(config)
        return CameraState("preview", camera, self._next_epoch(), expected_fps=expected)

    def played_waveforms(self, mode: str) -> WaveformSet:
        """The set to play: in volumetric mode with a piezo read-back, the z-galvo is fed forward
        from one measured period of the piezo (measured once per scan, laser blanked)."""
        config = self._config()
        ws = scan_waveforms(config, mode)
        if mode != "volumetric" or not config.daq.piezo_readback.enabled:
            return ws
        key = _period_key(ws)
        if key not in self._measured:
            period = measuring_period(ws)
            self._measured[key] = self._pipeline.scanner.send(
                MeasurePiezo(period), ACK_TIMEOUT_S + 2 * ws.period_s()
            )
        readback = self._measured[key]
        if readback is None:
            return ws
        fed = scan_waveforms(config, mode, readback)
        lag = float(np.max(np.abs(readback - ws.sheet_z_um)))
        log.info("z-galvo fed forward from the measured piezo (largest lag %.3g µm)", lag)
        return fed

    # -- internals ------------------------------------------------------------------------------

    def _quiet(self) -> None:
        self.set_scanner("paused")
        self.set_camera(replace(self.camera_state, mode="paused"))

    def _start_scan(self, mode: str) -> None:
        if mode == "calibration":
            if self.static is None:
                config = self._config()
                calibration = config.scanning.calibration
                z = config.scanning.planar_z_um
                galvo = calibration.z_galvo_slope_v_per_um * z + calibration.z_galvo_offset_v
                self.static = calibration_outputs(config, galvo, z)
            self.set_scanner("calibration")
        elif mode in SCAN_MODES:
            self.set_scanner(mode, self.played_waveforms(mode))  # type: ignore[arg-type]

    def _dispatcher(self, mode: str, planes: int, preview: bool = False) -> DispatcherState:
        config = self._config()
        height, width = frame_shape(config)
        return DispatcherState(
            mode,  # type: ignore[arg-type]
            planes,
            height,
            width,
            subtract_dark=self.subtract_dark,
            preview=preview,
            preview_hz=config.buffers.preview_hz,
        )


def _period_key(ws: WaveformSet) -> str:
    """Identifies the piezo's played period: the same command gives the same measured motion."""
    digest = hashlib.sha1(np.ascontiguousarray(ws.channels["piezo"]).tobytes())
    return f"{ws.sample_rate_hz:g}:{digest.hexdigest()}"

"""The Session: one rig, driven by the GUI or the CLI alike; a thin facade over the app layer.

```
planning.py       pure numbers of a config: planes, frame shape, rates, z, ring sizes
scan_plan.py      the checked waveforms of a config
pipeline.py       shared memory, workers, one typed link per process, the Supervisor
modes.py          the mode machine: paused, calibration, planar, volumetric; live updates
runs.py           Run (numbers of its own) and RunControl (start, stop, progress)
config_change.py  what a new config needs: live, a new scan, new processes
acquisition.py    one run from start to metadata, for the CLI and the GUI
live_processing.py  the live processor (``Session.processing``): where it runs, its messages
errors.py         SessionError (a failure) and SessionConfigError (bad input, exit 2)
```

The Session checks what the operator asks (a scan the rig cannot play is refused before anything
changes) and turns failures of the processes into ``SessionError``s with their reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.app import planning
from lightsheet.app.config_change import changes
from lightsheet.app.errors import (
    SessionConfigError,
    SessionError,
    process_failures,
    refused_as_bad_input,
)
from lightsheet.app.live_processing import LiveProcessing
from lightsheet.app.modes import MODES, SCAN_MODES, ModeMachine
from lightsheet.app.pipeline import Pipeline
from lightsheet.app.preview import Preview, latest_preview
from lightsheet.app.runs import Progress, Run, RunControl, check_run_length
from lightsheet.app.scan_plan import calibration_outputs, scan_waveforms
from lightsheet.app.trigger_link import TriggerLink, check_port
from lightsheet.config import RigConfig
from lightsheet.hardware.camera.factory import with_camera_sensor
from lightsheet.hardware.camera.protocol import CameraError
from lightsheet.processes.commands import RunClosed
from lightsheet.processes.status import ScannerStatus
from lightsheet.runtime.shm import remove_stale_blocks
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.supervisor import Fault
from lightsheet.scanning.waveforms import WaveformSet

__all__ = ["Preview", "Progress", "Run", "Session", "SessionConfigError", "SessionError"]

log = logging.getLogger("lightsheet.session")


class Session:
    """Owns the processes of one rig; every mode change and run goes through here.

    An acquisition runs in planar or volumetric (the current mode when it is one of those, else
    the config's ``scanning.mode``) and gives the rig back to the operator's mode afterwards.
    ``watch_preview`` says whether someone looks at the preview during a run (the GUI); nobody
    does headless, so no volume is copied for it then. ``processing`` is the live processor.
    """

    def __init__(
        self,
        config: RigConfig,
        log_dir: Path,
        on_fault: Callable[[Fault], None] | None = None,
    ) -> None:
        self.config = config
        self.log_dir = Path(log_dir)
        self._on_fault = on_fault
        self._pipeline: Pipeline | None = None
        self._modes: ModeMachine | None = None
        self._runs: RunControl | None = None
        self._trigger: TriggerLink | None = None
        self._counter = 0  # runs and preview epochs share one counter
        self._open_runs: dict[int, Run] = {}
        self._mode = "paused"
        self._dark_subtraction = False
        self.watch_preview = False
        self.run: Run | None = None
        self._last_status: StatusBoard | None = None  # the counters of the closed pipeline
        self.processing = LiveProcessing(config.processing)

    # -- what the config means now --------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode if self._modes is None else self._modes.mode

    @property
    def scan_mode(self) -> str:
        """planar or volumetric: the running acquisition's, the previewed one, or the config's."""
        if self._acquiring() and self.run is not None:
            return self.run.scan_mode
        return self.mode if self.mode in SCAN_MODES else self.config.scanning.mode

    @property
    def frame_shape(self) -> tuple[int, int]:
        return planning.frame_shape(self.config)

    @property
    def planes_per_volume(self) -> int:
        return planning.imaged_planes(self.config, self.scan_mode)

    @property
    def frame_rate_hz(self) -> float:
        return planning.frame_rate_hz(self.config, self.scan_mode)

    @property
    def volume_rate_hz(self) -> float:
        return planning.volume_rate_hz(self.config, self.scan_mode)

    def z_positions_um(self) -> list[float]:
        """The z of each plane that is imaged (skipped planes are not)."""
        return self.config.scanning.imaged_z_um(self.scan_mode)

    def waveforms(self, mode: str | None = None) -> WaveformSet:
        """The checked waveform set of ``mode`` (default: the current scan mode)."""
        with refused_as_bad_input():
            return scan_waveforms(self.config, mode or self.scan_mode)

    # -- life cycle -------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Refuse, as SessionConfigError, a config whose camera, scan or trigger port cannot be
        used; a real camera's own sensor size replaces the config's (the rings are sized by it)."""
        try:
            self.config = self.config.updated(camera=with_camera_sensor(self.config.camera))
        except CameraError as exc:
            raise SessionConfigError(str(exc)) from None
        config = self.config
        self.waveforms(config.scanning.mode)
        self.processing.prepare()
        if config.trigger.mode != "none":
            with refused_as_bad_input("trigger.port: "):
                check_port(config.trigger)

    def start(self) -> None:
        """Spawn the processes, paused, once ``preflight`` found nothing to refuse."""
        self.preflight()
        config = self.config
        removed = remove_stale_blocks(log)
        if removed:
            log.info("removed %d stale shared-memory block(s) at start-up", len(removed))
        pipeline = Pipeline(config, self.log_dir, self._handle_fault, self._on_notice)
        self._pipeline = pipeline
        pipeline.start()
        self._modes = ModeMachine(pipeline, lambda: self.config, self._next_number)
        self._modes.mode = self._mode
        self._modes.subtract_dark = self._dark_subtraction
        self._bind_trigger()
        self.processing.attach(pipeline, lambda: self.planes_per_volume)

    def close(self) -> None:
        """Stop every process in order and release all shared memory. Safe to call twice."""
        if self._modes is not None:
            self._mode = self._modes.mode
            self._dark_subtraction = self._modes.subtract_dark
        self.processing.detach()
        pipeline, self._pipeline = self._pipeline, None
        self._modes = self._runs = None
        if pipeline is not None:
            pipeline.close()
            self._last_status = pipeline.status

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fault(self) -> Fault | None:
        return None if self._pipeline is None else self._pipeline.fault

    def process_pids(self) -> dict[str, int]:
        return {} if self._pipeline is None else self._pipeline.process_pids()

    def process_states(self) -> dict[str, str]:
        return {} if self._pipeline is None else self._pipeline.process_states()

    def board_outputs(self) -> dict[str, float] | None:
        """What the simulated board drives on every output now (None with real hardware)."""
        return None if self._pipeline is None else self._pipeline.board_outputs()

    def _handle_fault(self, fault: Fault) -> None:
        log.error("process %s failed: %s", fault.process, fault.reason)
        if self._on_fault is not None:
            self._on_fault(fault)

    def _on_notice(self, process: str, message: Any) -> None:
        if isinstance(message, RunClosed):
            run = self._open_runs.pop(message.run, None)
            if run is not None:
                run.close_with(message)

    # -- modes and settings -------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """paused, calibration, planar or volumetric; the preview runs in all but paused."""
        if mode not in MODES:
            raise SessionError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        modes = self._idle_modes("change the mode")
        if mode in SCAN_MODES:
            self.waveforms(mode)  # refuse before anything changes
        with refused_as_bad_input(), process_failures():
            modes.set_mode(mode)

    def apply_config(self, config: RigConfig) -> None:
        """Take a new config: live where possible, else restart only what it concerns."""
        modes = self._idle_modes("apply a new config")
        scan = self.mode if self.mode in SCAN_MODES else config.scanning.mode
        with refused_as_bad_input():
            scan_waveforms(config, scan)
            if config.trigger.mode != "none" and config.trigger != self.config.trigger:
                check_port(config.trigger)
        self.processing.configure(config.processing)  # refused, with nothing changed, first
        change = changes(self.config, config)
        self.config = config
        log.info("new config: %s", change.describe())
        if change.all_processes:
            self.close()
            self.start()
            modes = self._idle_modes("apply a new config")
        pipeline = self._require_pipeline()
        with refused_as_bad_input(), process_failures():
            if not change.all_processes:
                for name in sorted(change.restart):
                    pipeline.restart(name, config)
                if "scanner" in change.restart:
                    modes.forget_measurements()
                if "trigger" in change.restart:
                    self._bind_trigger()
            if change.scan or change.all_processes:
                modes.apply()
            elif change.live:
                modes.update()

    def set_calibration_outputs(self, galvo_v: float, piezo_um: float) -> None:
        """Calibration mode: hold the z-galvo and the piezo where the operator puts them."""
        with refused_as_bad_input():
            static = calibration_outputs(self.config, galvo_v, piezo_um)
        modes = self._require_modes()
        modes.static = static
        if modes.mode == "calibration" and modes.busy is None:
            with process_failures():
                modes.set_scanner("calibration")

    def piezo_position_um(self) -> float | None:
        """Measured piezo position (mean of the last period read back), None if not measured."""
        if self._pipeline is None or not self.config.daq.piezo_readback.enabled:
            return None
        scanner = self._pipeline.status.section(ScannerStatus)
        return float(scanner.piezo_um) if scanner.running == 1 else None

    def acquire_dark(self, frames: int, timeout_s: float = 60.0) -> np.ndarray:
        """Average ``frames`` frames with the lasers blanked; the mode is restored afterwards."""
        modes = self._idle_modes("acquire a dark frame")
        if frames < 1:
            raise SessionError("a dark frame needs at least one frame")
        with process_failures():
            modes.acquire_dark(frames, timeout_s)
        dark = self._require_pipeline().preview.read_dark()
        if dark is None:
            raise SessionError("dark frame: the dispatcher published none")
        return dark

    def set_dark_subtraction(self, enabled: bool) -> None:
        """Live: the dispatcher subtracts (or stops subtracting) from the next frame on."""
        self._dark_subtraction = bool(enabled)
        if self._modes is None:
            return
        self._modes.subtract_dark = self._dark_subtraction
        if not self._acquiring():
            with process_failures():
                self._modes.update()

    def latest_preview(self, newer_than: int | None = None) -> Preview | None:
        """The newest preview image (a copy), or None before the first one; with
        ``newer_than`` (a ``Preview.seq``), None unless a newer image came (nothing is copied)."""
        pipeline = self._pipeline
        return None if pipeline is None else latest_preview(pipeline.preview, newer_than)

    def status_values(self) -> dict[str, float]:
        """Frame rate, drops, ring fill and saver throughput, with or without a run."""
        return self._require_pipeline().status_values()

    # -- acquisition ----------------------------------------------------------------------------

    def start_acquisition(
        self,
        folder: Path,
        volumes: int | None = None,
        duration_s: float | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run into an already prepared folder; returns at once (poll :meth:`progress`)."""
        self._require_pipeline()
        runs = self._runs
        assert runs is not None
        if self._acquiring():
            raise SessionError("an acquisition is already running")
        ends_itself = self._trigger is not None or self.config.trigger.duration_s is not None
        check_run_length(volumes, duration_s, ends_itself)
        scan = self.scan_mode
        if scan == "volumetric" and self.config.camera.trigger_mode == "internal":
            log.warning("camera free-runs (trigger_mode internal): planes follow the camera's "
                        "own clock, not the scan")  # fmt: skip
        run_id = self._next_number()
        planes = planning.imaged_planes(self.config, scan)
        self.processing.begin_run(run_id, Path(folder), planes, self.config.saving)
        with refused_as_bad_input(), process_failures():
            run = runs.start(run_id, Path(folder), scan, volumes, duration_s, attrs or {},
                             self.watch_preview)  # fmt: skip
        self._open_runs[run.run] = run
        self.run = run
        return run

    def stop_acquisition(self, reason: str = "stopped") -> None:
        """End the run early: every frame already acquired is still saved."""
        if self.run is not None and self._runs is not None and self._acquiring():
            with process_failures():
                self._runs.stop(self.run, reason)

    def progress(self) -> Progress:
        """The current run's numbers (reads only); the trigger device's news is applied first."""
        run, runs = self.run, self._runs
        if run is None or runs is None:
            raise SessionError("no acquisition")
        with process_failures():
            runs.follow_trigger(run)
        return runs.progress(run)

    def wait_run_saved(self, timeout_s: float) -> bool:
        """Wait until the saver closed the current run's files (or a fault); True if closed."""
        run = self.run
        if run is None:
            return True
        return run.wait_closed(timeout_s, lambda: self.fault is not None)

    def end_run(self) -> None:
        """After the run's files closed: tell the trigger device, go back to the operator's mode."""
        run, runs = self.run, self._runs
        if run is None or runs is None or self._modes is None or self._modes.busy != "run":
            return
        try:
            with process_failures():
                runs.end(run)
        except SessionError as exc:
            log.error("could not return to %s after the run: %s", self.mode, exc)

    def trigger_info(self) -> dict[str, Any] | None:
        return None if self._trigger is None else self._trigger.info()

    def last_status(self) -> dict[str, float]:
        """Every counter as the processes left it (also after close): for a run cut off."""
        status = self._pipeline.status if self._pipeline is not None else self._last_status
        return {} if status is None else status.snapshot()

    # -- internals ------------------------------------------------------------------------------

    def _next_number(self) -> int:
        self._counter += 1
        return self._counter

    def _acquiring(self) -> bool:
        return self._modes is not None and self._modes.busy == "run"

    def _bind_trigger(self) -> None:
        pipeline = self._require_pipeline()
        link = pipeline.trigger
        self._trigger = None if link is None else TriggerLink(link, pipeline.status,
                                                              self.config.trigger)  # fmt: skip
        assert self._modes is not None
        self._runs = RunControl(pipeline, self._modes, lambda: self.config, self._trigger)

    def _require_pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise SessionError("session is not started")
        return self._pipeline

    def _require_modes(self) -> ModeMachine:
        self._require_pipeline()
        assert self._modes is not None
        return self._modes

    def _idle_modes(self, what: str) -> ModeMachine:
        modes = self._require_modes()
        if self._acquiring():
            raise SessionError(f"cannot {what} during an acquisition")
        return modes


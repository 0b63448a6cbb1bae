"""The Session: one rig, its processes and shared memory, driven by the GUI or the CLI alike.

It owns every shared-memory block (created before the children are spawned, unlinked on every
exit path), keeps the desired state of each process and sends it whole on that process's
latest-wins channel, and turns the counters on the status board into progress and metadata.
"""

from __future__ import annotations

import logging
import math
import queue
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lightsheet.app.scan_plan import (
    ScanConfigError,
    calibration_outputs,
    measuring_period,
    scan_waveforms,
    waveform_record,
)
from lightsheet.app.trigger_link import TriggerLink, TriggerPortUnusable, check_port
from lightsheet.config import RigConfig
from lightsheet.hardware.daq.factory import create_board_link
from lightsheet.processes.camera import CAMERA_STATUS, CameraWorker
from lightsheet.processes.commands import (
    CameraCommand,
    DispatcherCommand,
    RunPlan,
    SaverCommand,
    ScannerCommand,
)
from lightsheet.processes.dispatcher import DISPATCHER_STATUS, DispatcherWorker
from lightsheet.processes.frames import FRAME_META, volume_meta_dtype
from lightsheet.processes.saver import SAVER_STATUS, SaverWorker
from lightsheet.processes.scanner import SCANNER_STATUS, ScannerWorker
from lightsheet.processes.trigger import TRIGGER_STATUS, TriggerWorker
from lightsheet.runtime.channels import LoggedQueue
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.preview import PreviewBuffer
from lightsheet.runtime.ring import Ring
from lightsheet.runtime.shm import remove_stale_blocks
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.supervisor import Fault, Supervisor

log = logging.getLogger("lightsheet.session")

MB = 1024 * 1024
ACK_TIMEOUT_S = 15.0
# Hardware first: the scanner drives lasers and galvos to safe values before anything else stops;
# the dispatcher drains the frame ring before the saver closes its files.
STOP_ORDER = ["scanner", "trigger", "camera", "dispatcher", "saver"]
MODES = ("paused", "calibration", "planar", "volumetric")


class SessionError(Exception):
    """The session could not do what was asked; the message says why."""


class SessionConfigError(SessionError):
    """What was asked cannot run on this rig (bad input, not a fault): nothing was started."""


@contextmanager
def _refused_as_bad_input(prefix: str = ""):
    """A scan or output the rig cannot play is the operator's input, not a fault."""
    try:
        yield
    except (ScanConfigError, TriggerPortUnusable) as exc:
        raise SessionConfigError(f"{prefix}{exc}") from None


@dataclass(frozen=True)
class Preview:
    """The newest preview image: a whole volume (z, y, x) or one frame (y, x)."""

    image: np.ndarray
    seq: int  # changes with every new image
    index: int  # volume index (volumes) or frame id (frames)
    kind: str  # "volume" | "frame"


@dataclass(frozen=True)
class Progress:
    run: int
    volumes_saved: int
    volumes_target: int
    frames_acquired: int
    frames_dropped: int
    frames_missing: int
    frame_rate_hz: float
    saver_mbps: float
    frame_ring_fill: float  # 0..1
    elapsed_s: float
    done: bool
    fault: Fault | None
    waiting_for_trigger: bool = False

    @property
    def eta_s(self) -> float | None:
        if self.volumes_saved <= 0 or self.done or self.volumes_target <= 0:
            return None
        rate = self.volumes_saved / max(self.elapsed_s, 1e-9)
        return max(self.volumes_target - self.volumes_saved, 0) / rate


@dataclass
class Run:
    """One acquisition: what was asked and when it started."""

    run: int
    folder: Path
    plan: RunPlan
    volumes_target: int
    started_at: float  # time.time()
    started_monotonic: float
    stop_reason: str | None = None
    failure: str | None = None  # a cause that makes the run a fault although no process died
    volumes_target_known: bool = True


class Session:
    """Owns the processes of one rig; every mode change and run goes through here.

    Modes: paused (outputs safe, camera idle), calibration (static outputs set by the operator,
    camera previewing), planar and volumetric (waveforms played, camera previewing). An
    acquisition runs in planar or volumetric and returns to the previous mode when it ends.
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
        self._supervisor: Supervisor | None = None
        self._rings: list = []
        self._link = None
        self._run_counter = 0
        self._scanner_seq = 0
        self._mode = "paused"
        self._run_mode: str | None = None  # the scan mode of the running acquisition
        self._static: dict[str, float] | None = None
        self._subtract_dark = False
        self._geometry: tuple | None = None
        self._gate: LoggedEvent | None = None
        self.trigger: TriggerLink | None = None
        self.run: Run | None = None

    # -- geometry -----------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def scan_mode(self) -> str:
        """planar or volumetric: the running acquisition's, the previewed one, or the config's."""
        if self._run_mode is not None:
            return self._run_mode
        return self._scan_mode_of(self.config)

    def _scan_mode_of(self, config: RigConfig) -> str:
        return self._mode if self._mode in ("planar", "volumetric") else config.scanning.mode

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.config.camera.frame_shape

    @property
    def planes_per_volume(self) -> int:
        return _imaged_planes(self.config, self.scan_mode)

    @property
    def frame_rate_hz(self) -> float:
        camera = self.config.camera
        if camera.trigger_mode == "external":
            # Frames per second averaged over a period: the flyback takes no frames.
            ws = scan_waveforms(self.config, self.scan_mode)
            return ws.frames_per_period / ws.period_s()
        return 1000.0 / (camera.exposure_ms + camera.readout_ms)

    @property
    def volume_rate_hz(self) -> float:
        return self.frame_rate_hz / self.planes_per_volume

    def z_positions_um(self) -> list[float]:
        """The z of each plane that is imaged (skipped planes are not)."""
        scanning = self.config.scanning
        if self.scan_mode == "planar":
            return [scanning.planar_z_um]
        planes = scanning.z_positions_um()
        return planes[scanning.skip_planes_start : len(planes) - scanning.skip_planes_end]

    def waveforms(self, mode: str | None = None):
        """The checked waveform set of ``mode`` (default: the current scan mode)."""
        with _refused_as_bad_input():
            return scan_waveforms(self.config, mode or self.scan_mode)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the processes, paused. A scan the rig cannot play is refused before that."""
        self.waveforms(self.config.scanning.mode)
        if self.config.trigger.mode != "none":
            with _refused_as_bad_input("trigger.port: "):
                check_port(self.config.trigger)
        removed = remove_stale_blocks(log)
        if removed:
            log.info("removed %d stale shared-memory block(s) at start-up", len(removed))
        try:
            self._start_processes()
        except BaseException:
            self.close()
            raise

    def _start_processes(self) -> None:
        config = self.config
        sensor_pixels = config.camera.sensor_width * config.camera.sensor_height
        dtype = "<u2"
        frame_bytes = sensor_pixels * 2
        frame_slots = Ring.slots_for_budget(frame_bytes, int(config.buffers.frame_ring_mb * MB))
        self._frames = Ring.create(
            "frames", (sensor_pixels,), dtype, frame_slots, FRAME_META, blocking=False
        )
        self._rings.append(self._frames)
        height, width = self.frame_shape
        # Sized for the volumetric scan, so switching to planar and back needs no new rings.
        planes = _imaged_planes(config, "volumetric")
        volume_pixels = planes * height * width
        volume_slots = Ring.slots_for_budget(
            volume_pixels * 2, int(config.buffers.volume_ring_mb * MB)
        )
        self._volumes = Ring.create(
            "volumes",
            (volume_pixels,),
            dtype,
            volume_slots,
            volume_meta_dtype(planes),
            blocking=True,
        )
        self._rings.append(self._volumes)
        self._preview = PreviewBuffer.create(
            "0", volume_pixels, sensor_pixels, dtype, config.buffers.preview_hz
        )
        self._rings.append(self._preview)
        self._geometry = _ring_geometry(config)
        self.status = StatusBoard(
            (*CAMERA_STATUS, *DISPATCHER_STATUS, *SAVER_STATUS, *SCANNER_STATUS, *TRIGGER_STATUS)
        )
        # Opened by the trigger process on TRIGGER; the scanner and a free-running camera wait
        # on it, so a triggered run starts without a round trip through this process.
        self._gate = LoggedEvent("start_gate")
        self._scanner_replies = LoggedQueue("scanner.replies")
        self._link = create_board_link(config.daq)
        link_name = None if self._link is None else self._link.name
        log.info(
            "shared memory: frame ring %d x %.1f MB, volume ring %d x %.1f MB",
            frame_slots,
            frame_bytes / MB,
            volume_slots,
            volume_pixels * 2 / MB,
        )
        common = {"log_dir": self.log_dir, "log_level": config.logging.level}
        calibration = config.scanning.calibration
        self._scanner = ScannerWorker(
            config.daq,
            self.status,
            ScannerCommand(0, "paused"),
            link_name,
            self._gate,
            self._scanner_replies,
            **common,
        )
        self._camera = CameraWorker(
            self._frames.spec,
            self.status,
            self._camera_command("paused"),
            self.z_positions_um(),
            daq_link=link_name,
            calibration=(calibration.z_galvo_slope_v_per_um, calibration.z_galvo_offset_v),
            gate=self._gate,
            **common,
        )
        self._dispatcher = DispatcherWorker(
            self._frames.spec,
            self._volumes.spec,
            self._preview.spec,
            self.status,
            self._dispatcher_command("idle"),
            **common,
        )
        self._saver = SaverWorker(self._volumes.spec, self.status, **common)
        workers = [self._scanner, self._camera, self._dispatcher, self._saver]
        self.trigger = None
        if config.trigger.mode != "none":
            worker = TriggerWorker(config.trigger, self.status, self._gate, **common)
            self.trigger = TriggerLink(worker, self.status, config.trigger.mode)
            workers.insert(1, worker)
        self._supervisor = Supervisor(
            workers,
            stop_order=[w for w in STOP_ORDER if w in {x.name for x in workers}],
            on_fault=self._handle_fault,
        )
        self._supervisor.start()

    def close(self) -> None:
        """Stop every process in order and release all shared memory. Safe to call twice."""
        if self._supervisor is not None:
            self._supervisor.stop()
            self._supervisor = None
        while self._rings:
            self._rings.pop().close()
        if self._link is not None:
            self._link.close()
            self._link = None

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fault(self) -> Fault | None:
        return None if self._supervisor is None else self._supervisor.fault

    def process_pids(self) -> dict[str, int]:
        if self._supervisor is None:
            return {}
        return {name: w.pid for name, w in self._supervisor.workers.items() if w.pid is not None}

    def process_states(self) -> dict[str, str]:
        return {} if self._supervisor is None else self._supervisor.states()

    def board_outputs(self) -> dict[str, float] | None:
        """What the simulated board drives on every output now (None with real hardware)."""
        return None if self._link is None else self._link.outputs()

    def _handle_fault(self, fault: Fault) -> None:
        log.error("process %s failed: %s", fault.process, fault.reason)
        if self._on_fault is not None:
            self._on_fault(fault)

    # -- modes and settings -------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """paused, calibration, planar or volumetric; the preview runs in all but paused."""
        if mode not in MODES:
            raise SessionError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        self._require_idle("change the mode")
        if mode in ("planar", "volumetric"):
            self.waveforms(mode)  # refuse before anything changes
        self._mode = mode
        self._apply_mode()

    def apply_config(self, config: RigConfig) -> None:
        """Take a new config (latest wins); restarts the processes only if the rings must grow."""
        self._require_idle("apply a new config")
        with _refused_as_bad_input():
            scan_waveforms(config, self._scan_mode_of(config))
        restart = self._supervisor is not None and _ring_geometry(config) != self._geometry
        self.config = config
        if restart:
            log.info("new frame or volume geometry: restarting the processes")
            self.close()
            self.start()
        if self._supervisor is not None:
            self._apply_mode()

    def set_calibration_outputs(self, galvo_v: float, piezo_um: float) -> None:
        """Calibration mode: hold the z-galvo and the piezo where the operator puts them."""
        with _refused_as_bad_input():
            self._static = calibration_outputs(self.config, galvo_v, piezo_um)
        if self._mode == "calibration":
            self._send_scanner("calibration", static=self._static)

    def piezo_position_um(self) -> float | None:
        """Measured piezo position (mean of the last period read back), None if not measured."""
        if self._supervisor is None or self.status.get("scanner.running") != 1:
            return None
        if not self.config.daq.piezo_readback.enabled:
            return None
        return float(self.status.get("scanner.piezo_um"))

    def acquire_dark(self, frames: int, timeout_s: float = 60.0) -> np.ndarray:
        """Average ``frames`` frames with the lasers blanked; the mode is restored afterwards."""
        self._require_idle("acquire a dark frame")
        if frames < 1:
            raise SessionError("a dark frame needs at least one frame")
        self._send_scanner("paused")
        self._dispatcher.send_settings(
            replace(self._dispatcher_command("dark", planes=1), dark_frames=frames)
        )
        self._wait_for("dispatcher.dark_ready", 0, "dispatcher did not start the dark frame")
        epoch = self._next_run()
        self._camera.send_settings(self._camera_command("preview", epoch, internal=True))
        try:
            self._wait_for("dispatcher.dark_ready", 1, "dark frame", timeout=timeout_s)
        finally:
            self._apply_mode()
        dark = self._preview.read_dark()
        if dark is None:
            raise SessionError("dark frame: the dispatcher published none")
        return dark

    def set_dark_subtraction(self, enabled: bool) -> None:
        self._subtract_dark = bool(enabled)
        if self._supervisor is not None and not self._acquiring():
            self._apply_mode()

    def latest_preview(self) -> Preview | None:
        """The newest preview image (a copy), or None before the first one."""
        if self._supervisor is None:
            return None
        latest = self._preview.read_latest()
        if latest is None:
            return None
        image, index, seq = latest
        if image.ndim == 3 and image.shape[0] == 1:
            return Preview(image[0], seq, index, "frame")
        return Preview(image, seq, index, "volume" if image.ndim == 3 else "frame")

    def status_values(self) -> dict[str, float]:
        """Frame rate, drops, ring fill and saver throughput, with or without a run."""
        return self._live_values(self.status.snapshot())

    def _live_values(self, values: dict[str, float]) -> dict[str, float]:
        counters = self._frames.counters()
        return {
            "frame_rate_hz": values["camera.fps"],
            "frames_dropped": values["camera.dropped"],
            "frames_missing": values["dispatcher.gaps"],
            "ring_fill": counters.fill / max(counters.capacity, 1),
            "saver_mbps": values["saver.mbps"],
        }

    def _apply_mode(self) -> None:
        """Bring every process to the current mode; the camera is armed before the scan starts,
        so the first frame after a change is plane 0 of a volume."""
        mode = self._mode
        self._send_scanner("paused")
        self._camera.send_settings(self._camera_command("paused"))
        self._wait_for("camera.mode", 0, "camera did not pause")
        if mode == "paused":
            self._dispatcher.send_settings(self._dispatcher_command("idle"))
            return
        planes = 1 if mode == "calibration" else _imaged_planes(self.config, mode)
        self._dispatcher.send_settings(
            self._dispatcher_command("preview", planes=planes, preview=True)
        )
        if mode == "calibration" or self.config.camera.trigger_mode == "internal":
            self._start_scan_for(mode)  # free-running camera: light first
            epoch = self._next_run()
            self._camera.send_settings(self._camera_command("preview", epoch, internal=True))
            self._wait_for("camera.run", epoch, "camera did not start")
            return
        epoch = self._next_run()
        self._camera.send_settings(self._camera_command("preview", epoch))
        self._wait_for("camera.run", epoch, "camera did not start")
        self._start_scan_for(mode)

    def _start_scan_for(self, mode: str) -> None:
        if mode == "calibration":
            if self._static is None:
                calibration = self.config.scanning.calibration
                z = self.config.scanning.planar_z_um
                self._static = calibration_outputs(
                    self.config,
                    calibration.z_galvo_slope_v_per_um * z + calibration.z_galvo_offset_v,
                    z,
                )
            self._send_scanner("calibration", static=self._static)
        else:
            self._send_scanner(mode, channels=self._played_waveforms(mode).channels)

    def _played_waveforms(self, mode: str):
        """The set to play: in volumetric mode with a piezo read-back, the z-galvo is fed forward
        from one measured period of the piezo (the laser stays blanked while measuring)."""
        ws = self.waveforms(mode)
        if mode != "volumetric" or not self.config.daq.piezo_readback.enabled:
            return ws
        readback = self._measure_piezo(ws)
        if readback is None:
            return ws
        with _refused_as_bad_input("with the measured piezo: "):
            fed = scan_waveforms(self.config, mode, readback)
        lag = float(np.max(np.abs(readback - ws.sheet_z_um)))
        log.info("z-galvo fed forward from the measured piezo (largest lag %.3g µm)", lag)
        return fed

    def _measure_piezo(self, ws) -> np.ndarray | None:
        """One period of the piezo read back while ``ws`` plays with the laser blanked."""
        seq = self._send_scanner("measure", channels=measuring_period(ws))
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < deadline and self.fault is None:
            try:
                reply_seq, readback = self._scanner_replies.get(timeout=0.5)
            except queue.Empty:
                continue
            if reply_seq == seq:
                return readback
        raise SessionError("scanner did not measure the piezo")

    def _send_scanner(
        self, mode: str, *, channels=None, static=None, run: int = 0, gated: bool = False
    ) -> int:
        self._scanner_seq += 1
        seq = self._scanner_seq
        self._scanner.send_settings(ScannerCommand(seq, mode, channels, static, run, gated))
        self._wait_for("scanner.ack", seq, f"scanner did not switch to {mode}")
        if self.status.get("scanner.error") == seq:
            raise SessionError(f"the DAQ board refused {mode} (see scanner.log)")
        return seq

    def _require_idle(self, what: str) -> None:
        if self._supervisor is None:
            raise SessionError("session is not started")
        if self._acquiring():
            raise SessionError(f"cannot {what} during an acquisition")

    def _acquiring(self) -> bool:
        return self.run is not None and self._run_mode is not None

    def _next_run(self) -> int:
        self._run_counter += 1
        return self._run_counter

    # -- commands -----------------------------------------------------------------------------

    def _camera_command(
        self,
        mode: str,
        run: int = 0,
        max_frames: int | None = None,
        internal: bool = False,
    ) -> CameraCommand:
        camera = self.config.camera
        if internal and camera.trigger_mode != "internal":
            # No trigger pulses come in calibration and dark modes: the camera free-runs.
            camera = camera.model_copy(update={"trigger_mode": "internal"})
        expected = None
        if mode in ("preview", "acquire"):
            expected = 1000.0 / (camera.exposure_ms + camera.readout_ms)
            if camera.trigger_mode == "external":
                expected = self.frame_rate_hz
        return CameraCommand(
            mode=mode, camera=camera, run=run, max_frames=max_frames, expected_fps=expected
        )

    def _dispatcher_command(
        self,
        mode: str,
        run: int = 0,
        plan: RunPlan | None = None,
        preview: bool = False,
        planes: int | None = None,
    ) -> DispatcherCommand:
        height, width = self.frame_shape
        return DispatcherCommand(
            mode=mode,
            planes=self.planes_per_volume if planes is None else planes,
            height=height,
            width=width,
            run=run,
            plan=plan,
            preview=preview,
            subtract_dark=self._subtract_dark,
        )

    def _wait_for(self, name: str, value: float, what: str, timeout: float = ACK_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while self.status.get(name) != value:
            if self.fault is not None:
                raise SessionError(f"{what}: {self.fault.process} failed: {self.fault.reason}")
            if time.monotonic() > deadline:
                raise SessionError(f"{what}: no answer within {timeout:.0f} s")
            time.sleep(0.005)

    # -- acquisition --------------------------------------------------------------------------

    def start_acquisition(
        self,
        folder: Path,
        volumes: int | None = None,
        duration_s: float | None = None,
        attrs: dict | None = None,
    ) -> Run:
        """Start a run into an already prepared folder; returns at once (poll :meth:`progress`).

        The run scans in the current mode when that is planar or volumetric, else in the
        config's ``scanning.mode``.
        """
        if self._supervisor is None:
            raise SessionError("session is not started")
        if self._acquiring() and self.run.stop_reason is None:
            raise SessionError("an acquisition is already running")
        if volumes is not None and duration_s is not None:
            raise SessionError("give either a number of volumes or a duration, not both")
        unbounded = volumes is None and duration_s is None
        if unbounded and self.trigger is None and self.config.trigger.duration_s is None:
            raise SessionError("give either a number of volumes or a duration")
        scan = self.scan_mode
        if scan == "volumetric" and self.config.camera.trigger_mode == "internal":
            log.warning("camera free-runs (trigger_mode internal): planes follow the camera's "
                        "own clock, not the scan")
        self._run_mode = scan
        try:
            return self._start_run(folder, volumes, duration_s, attrs)
        except BaseException:
            self._run_mode = None
            raise

    def _start_run(self, folder, volumes, duration_s, attrs) -> Run:
        scan = self.scan_mode
        ws = self._played_waveforms(scan)  # checked: a refused scan starts nothing
        # The duration the trigger device may replace: the caller's, else the config's.
        source = "cli" if (volumes is not None or duration_s is not None) else "config"
        if duration_s is None and volumes is None:
            duration_s = self.config.trigger.duration_s
        if volumes is None and duration_s is not None:
            volumes = self._volumes_for(duration_s)
        configured_s = duration_s
        if configured_s is None and volumes is not None:
            configured_s = volumes / self.volume_rate_hz
        gated = self.trigger is not None and self.trigger.mode == "wait"
        run_id = self._next_run()
        height, width = self.frame_shape
        planes = self.planes_per_volume
        saving = self.config.saving
        plan = RunPlan(
            run=run_id,
            out_dir=str(folder),
            planes=planes,
            height=height,
            width=width,
            compression=saving.compression,
            compression_level=saving.compression_level,
            volumes_per_chunk=saving.volumes_per_chunk(planes * height * width * 2),
            attrs={
                "run": run_id,
                "mode": scan,
                "pixel_size_um": self.config.camera.pixel_size_um,
                "z_step_um": self._z_step_um(ws),
                **(attrs or {}),
            },
            waveforms=waveform_record(ws, self.config, scan),
        )
        # Quiet the rig first: no trigger may reach the camera before it is armed for the run.
        self._send_scanner("paused")
        self._camera.send_settings(self._camera_command("paused"))
        self._wait_for("camera.mode", 0, "camera did not pause")
        self._saver.send_settings(SaverCommand(plan))
        self._wait_for("saver.run_open", run_id, "saver did not open the run")
        # The dispatcher also publishes the newest whole volume for the viewer (rate-limited).
        self._dispatcher.send_settings(
            self._dispatcher_command("acquire", run_id, plan, preview=True)
        )
        self._wait_for("dispatcher.run", run_id, "dispatcher did not take the run")
        self.run = Run(
            run_id, Path(folder), plan, volumes or 0, time.time(), time.monotonic(),
            volumes_target_known=volumes is not None,
        )
        if self._gate is not None:
            self._gate.clear()
        if self.trigger is not None and not gated:
            # Send mode: armed before the first frame, so TRIGGER <frame_id> goes out at once.
            self._arm_trigger(run_id, configured_s, source)
        if self.config.camera.trigger_mode == "internal":
            # A free-running camera takes no triggers: light first, so no frame is dark.
            self._send_scanner(scan, channels=ws.channels, run=run_id, gated=gated)
        self._camera.send_settings(self._run_camera_command())
        self._wait_for("camera.run", run_id, "camera did not start the run")
        if self.config.camera.trigger_mode == "external":
            self._send_scanner(scan, channels=ws.channels, run=run_id, gated=gated)
        if self.trigger is not None and gated:
            # Wait mode: ARMED goes out only once camera and scan wait on the start gate.
            self._arm_trigger(run_id, configured_s, source)
        self.run.started_monotonic = time.monotonic()
        log.info(
            "run %d started: %s, %d volume(s) of %d plane(s) into %s",
            run_id, scan, volumes, planes, folder,
        )
        return self.run

    def stop_acquisition(self, reason: str = "stopped") -> None:
        """End the run early: every frame already acquired is still saved."""
        run = self.run
        if run is None or run.stop_reason is not None:
            return
        run.stop_reason = reason
        finish = self._camera_command("finish", run.run)
        self._camera.send_settings(replace(finish, volume_frames=self.planes_per_volume))
        log.info("run %d: stop requested (%s)", run.run, reason)

    def progress(self) -> Progress:
        run = self.run
        if run is None:
            raise SessionError("no acquisition")
        if self.trigger is not None and run.stop_reason is None:
            self._follow_trigger(run)
        values = self.status.snapshot()
        live = self._live_values(values)
        done = values["saver.run_done"] == run.run
        waiting = self.trigger is not None and not self.trigger.started and not done
        return Progress(
            run=run.run,
            volumes_saved=int(values["saver.volumes"])
            if values["saver.run_open"] == run.run or done
            else 0,
            volumes_target=run.volumes_target,
            frames_acquired=int(values["camera.frames"]),
            frames_dropped=int(live["frames_dropped"]),
            frames_missing=int(live["frames_missing"]),
            frame_rate_hz=live["frame_rate_hz"],
            saver_mbps=live["saver_mbps"],
            frame_ring_fill=live["ring_fill"],
            elapsed_s=time.monotonic() - run.started_monotonic,
            done=done,
            fault=self.fault,
            waiting_for_trigger=waiting,
        )

    def _run_camera_command(self) -> CameraCommand:
        run = self.run
        max_frames = None
        if run.volumes_target_known:
            max_frames = run.volumes_target * self.planes_per_volume
        gated = self.trigger is not None and self.trigger.mode == "wait"
        command = self._camera_command("acquire", run.run, max_frames=max_frames)
        return replace(command, gated=gated)

    def _arm_trigger(self, run_id: int, duration_s: float | None, source: str) -> None:
        self.trigger.arm(run_id, duration_s, source)
        self._wait_for("trigger.armed", run_id, "trigger process did not arm")

    def _follow_trigger(self, run: Run) -> None:
        """Apply what the trigger device said: a duration, a start time, an abort, a lost port."""
        news = self.trigger.news()
        if news.started:
            run.started_at = time.time()
            run.started_monotonic = time.monotonic()
        if news.duration_s is not None:
            volumes = self._volumes_for(news.duration_s)
            if not run.volumes_target_known or volumes != run.volumes_target:
                log.info("run %d: duration %.3g s from the trigger: %d volume(s)",
                         run.run, news.duration_s, volumes)
                run.volumes_target = volumes
                run.volumes_target_known = True
                self._camera.send_settings(self._run_camera_command())
        if news.aborted:
            self.stop_acquisition("aborted by the trigger device")
        elif news.port_lost:
            run.failure = "trigger: port lost"
            self.stop_acquisition("trigger port lost")

    def _volumes_for(self, duration_s: float) -> int:
        """Whole volumes that fill ``duration_s``; a rate a hair off its nominal value (whole
        samples per period) must not add a volume."""
        return max(1, math.ceil(duration_s * self.volume_rate_hz - 1e-6))

    def trigger_info(self) -> dict | None:
        return None if self.trigger is None else self.trigger.info()

    def wait_run_saved(self, timeout_s: float) -> bool:
        """Wait until the saver closed the current run's files (or a fault); True if closed."""
        run = self.run
        deadline = time.monotonic() + timeout_s
        while run is not None and self.status.get("saver.run_done") != run.run:
            if self.fault is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def end_run(self) -> None:
        """After the run's files closed: tell the trigger device, return to the operator's mode.

        The owner of the run (``Acquisition.finish``) calls it once; polling stays cheap.
        """
        if self._run_mode is None:
            return
        self._run_mode = None
        if self.trigger is not None:
            self.trigger.finish(int(self.status.get("saver.volumes")))
        try:
            self._apply_mode()
        except SessionError as exc:
            log.error("could not return to %s after the run: %s", self._mode, exc)

    def _z_step_um(self, ws) -> float:
        """Plane spacing as scanned (external trigger) or as configured (free-running camera)."""
        if self.config.camera.trigger_mode == "external":
            z = np.asarray(ws.plane_z_um)
        else:
            z = np.asarray(self.z_positions_um())
        return float(abs(np.diff(z).mean())) if len(z) > 1 else 1.0


def _imaged_planes(config: RigConfig, mode: str) -> int:
    """Frames per volume: the planes of the ramp that are not skipped, or 1 when planar."""
    if mode == "planar":
        return 1
    scanning = config.scanning
    return scanning.n_planes - scanning.skip_planes_start - scanning.skip_planes_end


def _ring_geometry(config: RigConfig) -> tuple:
    """What the shared-memory rings are sized for; a change needs new rings."""
    return (
        config.camera.sensor_width,
        config.camera.sensor_height,
        config.camera.frame_shape,
        _imaged_planes(config, "volumetric"),
        config.buffers.frame_ring_mb,
        config.buffers.volume_ring_mb,
    )

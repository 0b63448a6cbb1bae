"""The Session: one rig, its processes and shared memory, driven by the GUI or the CLI alike.

It owns every shared-memory block (created before the children are spawned, unlinked on every
exit path), keeps the desired state of each process and sends it whole on that process's
latest-wins channel, and turns the counters on the status board into progress and metadata.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightsheet.config import RigConfig
from lightsheet.processes.camera import CAMERA_STATUS, CameraWorker
from lightsheet.processes.commands import (
    CameraCommand,
    DispatcherCommand,
    RunPlan,
    SaverCommand,
)
from lightsheet.processes.dispatcher import DISPATCHER_STATUS, DispatcherWorker
from lightsheet.processes.frames import FRAME_META, volume_meta_dtype
from lightsheet.processes.saver import SAVER_STATUS, SaverWorker
from lightsheet.runtime.preview import PreviewBuffer
from lightsheet.runtime.ring import Ring
from lightsheet.runtime.shm import remove_stale_blocks
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.supervisor import Fault, Supervisor
from lightsheet.storage.chunks import volumes_per_chunk

log = logging.getLogger("lightsheet.session")

MB = 1024 * 1024
ACK_TIMEOUT_S = 15.0
# Hardware first: the scanner drives lasers and galvos to safe values before anything else stops;
# the dispatcher drains the frame ring before the saver closes its files.
STOP_ORDER = ["scanner", "trigger", "camera", "dispatcher", "saver"]


class SessionError(Exception):
    """The session could not do what was asked; the message says why."""


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

    @property
    def eta_s(self) -> float | None:
        if self.volumes_saved <= 0 or self.done:
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


class Session:
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
        self._run_counter = 0
        self.run: Run | None = None

    # -- geometry -----------------------------------------------------------------------------

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.config.camera.frame_shape

    @property
    def planes_per_volume(self) -> int:
        scanning = self.config.scanning
        if scanning.mode == "planar":
            return 1
        return scanning.n_planes - scanning.skip_planes_start - scanning.skip_planes_end

    @property
    def frame_rate_hz(self) -> float:
        camera = self.config.camera
        return 1000.0 / (camera.exposure_ms + camera.readout_ms)

    @property
    def volume_rate_hz(self) -> float:
        return self.frame_rate_hz / self.planes_per_volume

    def z_positions_um(self) -> list[float]:
        """The z of each plane that is imaged (skipped planes are not)."""
        scanning = self.config.scanning
        if scanning.mode == "planar":
            return [scanning.planar_z_um]
        planes = scanning.z_positions_um()
        return planes[scanning.skip_planes_start : len(planes) - scanning.skip_planes_end]

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        removed = remove_stale_blocks(log)
        if removed:
            log.info("removed %d stale shared-memory block(s) at start-up", len(removed))
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
        planes = self.planes_per_volume
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
        self.status = StatusBoard((*CAMERA_STATUS, *DISPATCHER_STATUS, *SAVER_STATUS))
        log.info(
            "shared memory: frame ring %d x %.1f MB, volume ring %d x %.1f MB",
            frame_slots,
            frame_bytes / MB,
            volume_slots,
            volume_pixels * 2 / MB,
        )
        common = {"log_dir": self.log_dir, "log_level": config.logging.level}
        self._camera = CameraWorker(
            self._frames.spec,
            self.status,
            self._camera_command("paused"),
            self.z_positions_um(),
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
        workers = [self._camera, self._dispatcher, self._saver]
        self._supervisor = Supervisor(
            workers,
            stop_order=[w for w in STOP_ORDER if w in {x.name for x in workers}],
            on_fault=self._handle_fault,
        )
        try:
            self._supervisor.start()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every process in order and release all shared memory. Safe to call twice."""
        if self._supervisor is not None:
            self._supervisor.stop()
            self._supervisor = None
        while self._rings:
            self._rings.pop().close()

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

    def _handle_fault(self, fault: Fault) -> None:
        log.error("process %s failed: %s", fault.process, fault.reason)
        if self._on_fault is not None:
            self._on_fault(fault)

    # -- commands -----------------------------------------------------------------------------

    def _camera_command(self, mode: str, run: int = 0, max_frames: int | None = None):
        return CameraCommand(
            mode=mode,
            camera=self.config.camera,
            run=run,
            max_frames=max_frames,
            expected_fps=self.frame_rate_hz,
        )

    def _dispatcher_command(
        self, mode: str, run: int = 0, plan: RunPlan | None = None, preview: bool = False
    ) -> DispatcherCommand:
        height, width = self.frame_shape
        return DispatcherCommand(
            mode=mode,
            planes=self.planes_per_volume,
            height=height,
            width=width,
            run=run,
            plan=plan,
            preview=preview,
        )

    def _wait_for(self, name: str, value: float, what: str, timeout: float = ACK_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while self.status.get(name) != value:
            if self.fault is not None:
                raise SessionError(f"{what}: {self.fault.process} failed: {self.fault.reason}")
            if time.monotonic() > deadline:
                raise SessionError(f"{what}: no answer within {timeout:.0f} s")
            time.sleep(0.01)

    # -- acquisition --------------------------------------------------------------------------

    def start_acquisition(
        self,
        folder: Path,
        volumes: int | None = None,
        duration_s: float | None = None,
        attrs: dict | None = None,
    ) -> Run:
        """Start a run into an already prepared folder; returns at once (poll :meth:`progress`)."""
        if self._supervisor is None:
            raise SessionError("session is not started")
        if self.run is not None and self.run.stop_reason is None:
            raise SessionError("an acquisition is already running")
        if (volumes is None) == (duration_s is None):
            raise SessionError("give either a number of volumes or a duration")
        if volumes is None:
            volumes = max(1, math.ceil(duration_s * self.volume_rate_hz))
        self._run_counter += 1
        run_id = self._run_counter
        height, width = self.frame_shape
        planes = self.planes_per_volume
        saving = self.config.saving
        volume_bytes = planes * height * width * 2
        plan = RunPlan(
            run=run_id,
            out_dir=str(folder),
            planes=planes,
            height=height,
            width=width,
            compression=saving.compression,
            compression_level=saving.compression_level,
            volumes_per_chunk=volumes_per_chunk(volume_bytes, int(saving.chunk_ram_mb * MB)),
            attrs={
                "run": run_id,
                "pixel_size_um": self.config.camera.pixel_size_um,
                "z_step_um": self._z_step_um(),
                **(attrs or {}),
            },
        )
        self._saver.send_settings(SaverCommand(plan))
        self._wait_for("saver.run_open", run_id, "saver did not open the run")
        self._dispatcher.send_settings(self._dispatcher_command("acquire", run_id, plan))
        self._wait_for("dispatcher.run", run_id, "dispatcher did not take the run")
        self.run = Run(run_id, Path(folder), plan, volumes, time.time(), time.monotonic())
        self._camera.send_settings(
            self._camera_command("acquire", run_id, max_frames=volumes * planes)
        )
        log.info(
            "run %d started: %d volume(s) of %d plane(s) into %s", run_id, volumes, planes, folder
        )
        return self.run

    def stop_acquisition(self, reason: str = "stopped") -> None:
        """End the run early: every frame already acquired is still saved."""
        run = self.run
        if run is None or run.stop_reason is not None:
            return
        run.stop_reason = reason
        self._camera.send_settings(self._camera_command("finish", run.run))
        log.info("run %d: stop requested (%s)", run.run, reason)

    def progress(self) -> Progress:
        run = self.run
        if run is None:
            raise SessionError("no acquisition")
        values = self.status.snapshot()
        counters = self._frames.counters()
        done = values["saver.run_done"] == run.run
        return Progress(
            run=run.run,
            volumes_saved=int(values["saver.volumes"])
            if values["saver.run_open"] == run.run or done
            else 0,
            volumes_target=run.volumes_target,
            frames_acquired=int(values["camera.frames"]),
            frames_dropped=int(values["camera.dropped"]),
            frames_missing=int(values["dispatcher.gaps"]),
            frame_rate_hz=values["camera.fps"],
            saver_mbps=values["saver.mbps"],
            frame_ring_fill=counters.fill / max(counters.capacity, 1),
            elapsed_s=time.monotonic() - run.started_monotonic,
            done=done,
            fault=self.fault,
        )

    def wait_run_saved(self, timeout_s: float) -> bool:
        """Wait until the saver closed the current run's files (or a fault); True if closed."""
        run = self.run
        deadline = time.monotonic() + timeout_s
        while run is not None and self.status.get("saver.run_done") != run.run:
            if self.fault is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _z_step_um(self) -> float:
        z = self.z_positions_um()
        return float(abs(np.diff(z).mean())) if len(z) > 1 else 1.0

"""Runs: start one on the rig, follow it, stop it early, and read numbers that are its own.

A ``Run`` is created when an acquisition starts and never changes meaning afterwards. While it
runs, ``progress()`` reads the live counters of the processes (and changes nothing); once its end
marker has passed the saver, the saver's ``RunClosed`` report is frozen into the run, and every
number of the run comes from that report, whatever the rig does next (a preview restarting, a new
run). A run cut off by a fault has no report; its numbers are then read after the shutdown, from
the counters and the files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lightsheet.app.errors import SessionError
from lightsheet.app.modes import ModeMachine
from lightsheet.app.pipeline import Pipeline
from lightsheet.app.planning import (
    frame_rate_hz,
    frame_shape,
    free_running_fps,
    imaged_planes,
    volume_rate_hz,
    volumes_for,
    z_step_um,
)
from lightsheet.app.scan_plan import waveform_record
from lightsheet.app.trigger_link import TriggerLink
from lightsheet.config import RigConfig
from lightsheet.processes.commands import (
    CameraState,
    DispatcherState,
    FinishRun,
    RunClosed,
    RunPlan,
    SaverState,
)
from lightsheet.processes.status import CameraStatus, DispatcherStatus, SaverStatus
from lightsheet.runtime.supervisor import Fault

log = logging.getLogger("lightsheet.runs")


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
    saver_busy: float = 0.0  # share of the last second the saver spent writing (0..1)

    @property
    def eta_s(self) -> float | None:
        if self.volumes_saved <= 0 or self.done or self.volumes_target <= 0:
            return None
        rate = self.volumes_saved / max(self.elapsed_s, 1e-9)
        return max(self.volumes_target - self.volumes_saved, 0) / rate


@dataclass
class Run:
    """One acquisition: what was asked, when it started, how it ended."""

    run: int
    folder: Path
    plan: RunPlan
    scan_mode: str
    volumes_target: int
    volumes_target_known: bool
    started_at: float  # time.time()
    started_monotonic: float
    stop_reason: str | None = None
    failure: str | None = None  # a cause that makes the run a fault although no process died
    report: RunClosed | None = None
    _closed: threading.Event = field(default_factory=threading.Event, repr=False)

    def close_with(self, report: RunClosed) -> None:
        """The saver closed the run's files: its numbers are final from now on."""
        if self.report is None:
            self.report = report
            self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout_s: float, give_up: Callable[[], bool] = lambda: False) -> bool:
        """True once the files are closed; False after ``timeout_s`` or when ``give_up()``."""
        deadline = time.monotonic() + timeout_s
        while not self._closed.wait(0.05):
            if time.monotonic() > deadline or give_up():
                return False
        return True


class RunControl:
    """Starts and follows runs on a pipeline, borrowing the rig from the mode machine."""

    def __init__(
        self,
        pipeline: Pipeline,
        modes: ModeMachine,
        config: Callable[[], RigConfig],
        trigger: TriggerLink | None,
    ) -> None:
        self._pipeline = pipeline
        self._modes = modes
        self._config_of = config
        self.trigger = trigger

    @property
    def _config(self) -> RigConfig:
        return self._config_of()

    def start(self, run_id: int, folder: Path, scan: str, volumes: int | None,
              duration_s: float | None, attrs: dict[str, object],
              watched: bool) -> Run:  # fmt: skip
        """Arm everything for run ``run_id``; returns once the camera and scan are armed."""
        config = self._config
        ws = self._modes.played_waveforms(scan)  # checked: a refused scan starts nothing
        # The duration the trigger device may replace: the caller's, else the config's.
        source = "cli" if (volumes is not None or duration_s is not None) else "config"
        if duration_s is None and volumes is None:
            duration_s = config.trigger.duration_s
        if volumes is None and duration_s is not None:
            volumes = volumes_for(duration_s, volume_rate_hz(config, scan))
        configured_s = duration_s
        if configured_s is None and volumes is not None:
            configured_s = volumes / volume_rate_hz(config, scan)
        plan = self._plan(run_id, folder, scan, ws, attrs)
        run = Run(run_id, Path(folder), plan, scan, volumes or 0, volumes is not None,
                  time.time(), time.monotonic())  # fmt: skip
        self._arm(run, watched, configured_s, source, ws)
        log.info(
            "run %d started: %s, %s volume(s) of %d plane(s) into %s",
            run_id, scan, volumes if volumes is not None else "open-ended", plan.planes, folder,
        )  # fmt: skip
        return run

    def _plan(self, run_id: int, folder: Path, scan: str, ws: object,
              attrs: dict[str, object]) -> RunPlan:  # fmt: skip
        config = self._config
        height, width = frame_shape(config)
        planes = imaged_planes(config, scan)
        saving = config.saving
        return RunPlan(
            run=run_id,
            out_dir=str(folder),
            planes=planes,
            height=height,
            width=width,
            compression=saving.compression,
            compression_level=saving.compression_level,
            volumes_per_chunk=saving.volumes_per_chunk(planes * height * width * 2),
            chunk_seconds=saving.chunk_seconds,
            attrs={
                "run": run_id,
                "mode": scan,
                "pixel_size_um": config.camera.pixel_size_um,
                "z_step_um": z_step_um(config, scan, ws),  # type: ignore[arg-type]
                **attrs,
            },
            waveforms=waveform_record(ws, config, scan),  # type: ignore[arg-type]
        )

    def _arm(self, run: Run, watched: bool, configured_s: float | None, source: str,
             ws: object) -> None:  # fmt: skip
        """Saver, dispatcher, trigger, camera, scan: in the order that loses no frame."""
        pipeline, modes, config = self._pipeline, self._modes, self._config
        plan = run.plan
        gated = self.trigger is not None and self.trigger.mode == "wait"
        modes.lend("run")  # no trigger may reach the camera before it is armed for the run
        pipeline.saver.set_state(SaverState(plan))
        modes.set_dispatcher(
            DispatcherState(
                "acquire", plan.planes, plan.height, plan.width, plan,
                subtract_dark=modes.subtract_dark, preview=watched,
                preview_hz=config.buffers.preview_hz,
            )
        )  # fmt: skip
        pipeline.gate.clear()
        if self.trigger is not None and not gated:
            # Send mode: armed before the first frame, so TRIGGER <frame_id> goes out at once.
            self.trigger.arm(run.run, configured_s, source)
        free_running = config.camera.trigger_mode == "internal"
        if free_running:  # light first, so no frame is dark
            modes.set_scanner(run.scan_mode, ws, run.run, gated)  # type: ignore[arg-type]
        modes.set_camera(self.camera_state(run, gated))
        if not free_running:
            modes.set_scanner(run.scan_mode, ws, run.run, gated)  # type: ignore[arg-type]
        if self.trigger is not None and gated:
            # Wait mode: ARMED goes out only once camera and scan wait on the start gate.
            self.trigger.arm(run.run, configured_s, source)
        run.started_monotonic = time.monotonic()

    def camera_state(self, run: Run, gated: bool) -> CameraState:
        config = self._config
        max_frames = run.volumes_target * run.plan.planes if run.volumes_target_known else None
        if config.camera.trigger_mode == "external":
            expected = frame_rate_hz(config, run.scan_mode)
        else:
            expected = free_running_fps(config)
        return CameraState("acquire", config.camera, run.run, max_frames, expected, gated)

    def stop(self, run: Run, reason: str) -> None:
        """End the run at the end of the current volume: every frame acquired is saved."""
        if run.stop_reason is not None or run.closed:
            return
        run.stop_reason = reason
        log.info("run %d: stop requested (%s)", run.run, reason)
        self._pipeline.camera.send(FinishRun(run.run, run.plan.planes))

    def follow_trigger(self, run: Run) -> None:
        """Apply what the trigger device said: a duration, a start time, an abort, a lost port."""
        trigger = self.trigger
        if trigger is None or run.stop_reason is not None or run.closed:
            return
        news = trigger.news()
        if news.started:
            run.started_at = time.time()
            run.started_monotonic = time.monotonic()
        if news.duration_s is not None:
            volumes = volumes_for(news.duration_s, volume_rate_hz(self._config, run.scan_mode))
            if not run.volumes_target_known or volumes != run.volumes_target:
                log.info("run %d: duration %.3g s from the trigger: %d volume(s)",
                         run.run, news.duration_s, volumes)  # fmt: skip
                run.volumes_target, run.volumes_target_known = volumes, True
                gated = trigger.mode == "wait"
                self._modes.set_camera(self.camera_state(run, gated))
        if news.aborted:
            self.stop(run, "aborted by the trigger device")
        elif news.port_lost:
            run.failure = "trigger: port lost"
            self.stop(run, "trigger port lost")

    def progress(self, run: Run) -> Progress:
        """The run's numbers now; reads only, changes nothing."""
        pipeline = self._pipeline
        status = pipeline.status
        camera = status.section(CameraStatus)
        saver = status.section(SaverStatus)
        counters = pipeline.frame_ring_counters()
        report = run.report
        if report is not None:
            saved, acquired = report.volumes_saved, report.frames_acquired
            dropped, missing = report.frames_dropped, report.frames_missing
        else:
            ours = camera.run == run.run
            acquired = camera.last_frame_id + 1 if ours else 0
            dropped = camera.dropped if ours else 0
            missing = status.section(DispatcherStatus).gaps
            saved = saver.volumes if saver.run_open == run.run else 0
        waiting = self.trigger is not None and not self.trigger.started and report is None
        return Progress(
            run=run.run,
            volumes_saved=saved,
            volumes_target=run.volumes_target,
            frames_acquired=acquired,
            frames_dropped=dropped,
            frames_missing=missing,
            frame_rate_hz=camera.fps,
            saver_mbps=saver.mbps,
            frame_ring_fill=counters.fill / max(counters.capacity, 1),
            elapsed_s=time.monotonic() - run.started_monotonic,
            done=report is not None,
            fault=pipeline.fault,
            waiting_for_trigger=waiting,
            saver_busy=saver.busy,
        )

    def end(self, run: Run) -> None:
        """After the run's files closed: tell the trigger device, give the rig back."""
        if self.trigger is not None:
            saved = run.report.volumes_saved if run.report is not None else 0
            self.trigger.finish(run.run, saved)
        self._modes.give_back()


def check_run_length(volumes: int | None, duration_s: float | None, ends_itself: bool) -> None:
    """A run ends after ``volumes`` or ``duration_s`` (not both), or, with neither, when something
    else ends it (the trigger device, the config's ``trigger.duration_s``)."""
    if volumes is not None and duration_s is not None:
        raise SessionError("give either a number of volumes or a duration, not both")
    if volumes is None and duration_s is None and not ends_itself:
        raise SessionError("give either a number of volumes or a duration")

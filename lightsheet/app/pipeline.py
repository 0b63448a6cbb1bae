"""The rig's processes and shared memory: created together, started together, released together.

The Pipeline creates every shared-memory block before it spawns a child (frame ring, volume ring,
preview buffer, the simulated board's link), builds one worker per process with one typed
``ProcessLink`` each, and hands them to the Supervisor. It owns their lifetime: ``close()``
stops every process in order and unlinks every block, on every exit path. A setting that needs a
new process (another DAQ board, another trigger port, another camera backend) restarts only that
process (``restart``); one that needs bigger rings needs a new Pipeline.

When a process dies the Supervisor stops the rest in order; before that, if it was the scanner,
the Pipeline drives every output of the board to its safe value itself (an NI output holds its
last value when its task's process dies). On a fault the saver gets as long to write what the
volume ring still holds as its measured speed needs, not a fixed time.

The live processor's process is optional (``start_processor``, only when the operator runs a
processor on its own core): it reads the frame ring latest-only, has a Supervisor of its own so
its death never stops the rig, and is stopped first by ``close()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lightsheet.app.planning import PIXEL_DTYPE, RingGeometry, frame_shape
from lightsheet.app.processor_process import ProcessorProcess, ProcessorRequest
from lightsheet.config import RigConfig
from lightsheet.hardware.daq.factory import BoardLink, create_board_link, drive_outputs_safe
from lightsheet.processes.camera import CameraWorker
from lightsheet.processes.commands import (
    BoardSessions,
    CameraState,
    DispatcherState,
    FinishRun,
    FinishTrigger,
    MeasurePiezo,
    SaverState,
    ScannerState,
    TakeDark,
    TriggerState,
)
from lightsheet.processes.dispatcher import DispatcherWorker
from lightsheet.processes.frames import FRAME_META, volume_meta_dtype
from lightsheet.processes.saver import SaverWorker
from lightsheet.processes.scanner import ScannerWorker
from lightsheet.processes.status import SCHEMAS, CameraStatus, DispatcherStatus, SaverStatus
from lightsheet.processes.trigger import TriggerWorker
from lightsheet.runtime.ctrl_c import ctrl_c_held
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.preview import PreviewBuffer
from lightsheet.runtime.process_link import ProcessLink
from lightsheet.runtime.ring import Ring, RingCounters, RingSpec
from lightsheet.runtime.shm import huge_page_share
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.supervisor import Fault, Supervisor
from lightsheet.runtime.worker import Worker

log = logging.getLogger("lightsheet.pipeline")

# Hardware first: the scanner drives lasers and galvos to safe values before anything else stops;
# the dispatcher drains the frame ring before the saver closes its files.
STOP_ORDER = ("scanner", "trigger", "camera", "dispatcher", "saver")
SAVER_CLOSE_S = 5.0  # closing the last chunk and the index
SLOWEST_DISK_BYTES_S = 20e6  # before the saver measured its own speed
RESTARTABLE = ("scanner", "trigger", "camera")
_Block = TypeVar("_Block", Ring, PreviewBuffer)

CameraLink = ProcessLink[CameraState, FinishRun]
ScannerLink = ProcessLink[ScannerState, MeasurePiezo]
DispatcherLink = ProcessLink[DispatcherState, TakeDark]
SaverLink = ProcessLink[SaverState, None]
TriggerLink = ProcessLink[TriggerState, FinishTrigger]


class Pipeline:
    """Shared memory, workers, links and the Supervisor of one rig config."""

    def __init__(
        self,
        config: RigConfig,
        log_dir: Path,
        on_fault: Callable[[Fault], None],
        on_notice: Callable[[str, Any], None],
    ) -> None:
        self.config = config
        self.log_dir = Path(log_dir)
        self.geometry = RingGeometry.of(config)
        self._on_fault = on_fault
        self._on_notice = on_notice
        self._blocks: list[Ring | PreviewBuffer] = []
        self._board_link: BoardLink | None = None
        self.supervisor: Supervisor | None = None
        self.status = StatusBoard(SCHEMAS)
        self.gate = LoggedEvent("start_gate")  # opened by the trigger process on TRIGGER
        self.links: dict[str, ProcessLink[Any, Any]] = {}
        self._board_sessions: tuple[str, ...] = ()  # what a dead scanner leaves on a server
        self.outputs_made_safe: dict[str, float] | None = None
        self.processor: ProcessorProcess | None = None  # optional, started on demand
        self._processor_state: dict[str, str] = {}

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the shared memory, spawn every process and wait for nothing: they start paused."""
        try:
            self._create_blocks()
            workers = [self._build(name) for name in self.process_names()]
            self.supervisor = Supervisor(
                workers,
                stop_order=[n for n in STOP_ORDER if n in self.process_names()],
                on_fault=self._on_fault,
                on_death=self._first_aid,
                stop_timeouts={"saver": self._saver_drain_s},
            )
            self.supervisor.start()
            for worker in workers:
                self._link(worker)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every process in order and release all shared memory. Safe to call twice."""
        self.stop_processor()  # a reader of the frame ring only: first, so nothing waits on it
        if self.supervisor is not None:
            self.supervisor.stop()
        for link in self.links.values():
            link.stop()
        while self._blocks:
            self._blocks.pop().close()
        if self._board_link is not None:
            self._board_link.close()
            self._board_link = None

    def restart(self, name: str, config: RigConfig) -> None:
        """Replace one process by a new one built from ``config`` (the rest keep running)."""
        if name not in RESTARTABLE or self.supervisor is None:
            raise ValueError(f"{name} cannot be restarted on its own")
        self.config = config
        worker = self._build(name)
        log.info("restarting the %s process for its new settings", name)
        self.supervisor.replace(worker)
        self.links[name].rebind(worker)

    def start_processor(self, request: ProcessorRequest) -> ProcessorProcess:
        """Spawn the live processor's process (its result memory first); the rig is untouched."""
        self.stop_processor()
        process = ProcessorProcess(
            request, self._frames.spec, self.status, self.log_dir, self.config.logging.level
        )
        process.start()
        self.processor = process
        return process

    def stop_processor(self) -> None:
        process, self.processor = self.processor, None
        if process is not None:
            process.stop()
            self._processor_state = {"processor": "stopped"}  # (its light goes out, not away)

    def process_names(self) -> list[str]:
        names = ["scanner", "camera", "dispatcher", "saver"]
        if self.config.trigger.mode != "none":
            names.insert(1, "trigger")
        return names

    # -- what the rest of the app reads -----------------------------------------------------------

    @property
    def fault(self) -> Fault | None:
        return None if self.supervisor is None else self.supervisor.fault

    @property
    def running(self) -> bool:
        return self.supervisor is not None and self.fault is None

    def problem(self) -> str | None:
        fault = self.fault
        return None if fault is None else f"{fault.process} failed: {fault.reason}"

    @property
    def camera(self) -> CameraLink:
        return self.links["camera"]

    @property
    def scanner(self) -> ScannerLink:
        return self.links["scanner"]

    @property
    def dispatcher(self) -> DispatcherLink:
        return self.links["dispatcher"]

    @property
    def saver(self) -> SaverLink:
        return self.links["saver"]

    @property
    def trigger(self) -> TriggerLink | None:
        return self.links.get("trigger")

    @property
    def preview(self) -> PreviewBuffer:
        return self._preview

    @property
    def frames_spec(self) -> RingSpec:
        """For a latest-only reader of the frame ring in this process (the inline processor)."""
        return self._frames.spec

    def frame_ring_counters(self) -> RingCounters:
        return self._frames.counters()

    def status_values(self) -> dict[str, float]:
        """Frame rate, drops, ring fill, saver throughput and busy share, with or without a run."""
        counters = self._frames.counters()
        camera = self.status.section(CameraStatus)
        return {
            "frame_rate_hz": camera.fps,
            "frames_dropped": camera.dropped,
            "frames_missing": self.status.section(DispatcherStatus).gaps,
            "frames_copied": self.status.section(DispatcherStatus).copied,
            "ring_fill": counters.fill / max(counters.capacity, 1),
            "saver_mbps": self.status.section(SaverStatus).mbps,
            "saver_busy": self.status.section(SaverStatus).busy,
        }

    def board_outputs(self) -> dict[str, float] | None:
        """What the simulated board drives on every output now (None with real hardware)."""
        return None if self._board_link is None else self._board_link.outputs()

    def process_pids(self) -> dict[str, int]:
        if self.supervisor is None:
            return {}
        workers = self.supervisor.workers.items()
        pids = {name: w.pid for name, w in workers if w.pid is not None}
        return pids if self.processor is None else {**pids, **self.processor.pids()}

    def process_states(self) -> dict[str, str]:
        if self.supervisor is None:
            return {}
        states = {**self.supervisor.states(), **self._processor_state}
        return states if self.processor is None else {**states, **self.processor.states()}

    # -- building -------------------------------------------------------------------------------

    def _create_blocks(self) -> None:
        geometry = self.geometry
        self._frames = self._keep(lambda: Ring.create(
            "frames", (geometry.sensor_pixels,), PIXEL_DTYPE, geometry.frame_slots, FRAME_META,
            blocking=False,
        ))  # fmt: skip
        self._volumes = self._keep(lambda: Ring.create(
            "volumes", (geometry.volume_pixels,), PIXEL_DTYPE, geometry.volume_slots,
            volume_meta_dtype(geometry.planes), blocking=True,
        ))  # fmt: skip
        self._preview = self._keep(lambda: PreviewBuffer.create(
            "0", geometry.volume_pixels, geometry.sensor_pixels, PIXEL_DTYPE
        ))  # fmt: skip
        self._board_link = create_board_link(self.config.daq)
        log.info("shared memory: %s; %s", geometry.describe(), _pages(self._frames.spec.shm_name))

    def _keep(self, make: Callable[[], _Block]) -> _Block:
        """Make a block and hold it for ``close``, with Ctrl-C held in between: a block made but
        not yet held was owned by nobody, and a Ctrl-C there left it in /dev/shm."""
        with ctrl_c_held():
            block = make()
            self._blocks.append(block)
        return block

    def _build(self, name: str) -> Worker:
        config = self.config
        common: dict[str, Any] = {"log_dir": self.log_dir, "log_level": config.logging.level}
        link = None if self._board_link is None else self._board_link.name
        if name == "scanner":
            return ScannerWorker(
                config.daq, self.status, ScannerState("paused"), link, self.gate, **common
            )
        if name == "camera":
            calibration = config.scanning.calibration
            return CameraWorker(
                self._frames.spec,
                self.status,
                CameraState("paused", config.camera),
                config.scanning.imaged_z_um(config.scanning.mode),
                daq_link=link,
                calibration=(calibration.z_galvo_slope_v_per_um, calibration.z_galvo_offset_v),
                gate=self.gate,
                **common,
            )
        if name == "dispatcher":
            height, width = frame_shape(config)
            return DispatcherWorker(
                self._frames.spec, self._volumes.spec, self._preview.spec, self.status,
                DispatcherState("idle", 1, height, width), **common,
            )  # fmt: skip
        if name == "saver":
            return SaverWorker(self._volumes.spec, self.status, self._frames.spec, **common)
        if name == "trigger":
            return TriggerWorker(config.trigger, self.status, self.gate, **common)
        raise ValueError(f"unknown process {name!r}")

    def _route_notice(self, process: str, message: Any) -> None:
        if isinstance(message, BoardSessions):
            self._board_sessions = message.names
            return
        self._on_notice(process, message)

    def _first_aid(self, fault: Fault) -> None:
        """Called the moment a process is found dead, before the others are stopped."""
        if fault.process != "scanner":
            return
        link = None if self._board_link is None else self._board_link.name
        try:
            self.outputs_made_safe = drive_outputs_safe(self.config.daq, link, self._board_sessions)
        except Exception:
            log.exception("the scanner died and its outputs could NOT be made safe")
            return
        log.warning(
            "the scanner died: every output driven to its safe value from the main process (%s)",
            ", ".join(f"{k} {v:g} V" for k, v in self.outputs_made_safe.items()),
        )

    def _saver_drain_s(self) -> float:
        """How long the saver may take to write what the volume ring holds, then close."""
        counters = self._volumes.counters()
        pending = counters.fill * self._volumes.spec.slot_nbytes
        measured = self.status.section(SaverStatus).mbps * 1e6
        rate = max(measured, SLOWEST_DISK_BYTES_S)
        return SAVER_CLOSE_S + 2.0 * pending / rate

    def _link(self, worker: Worker) -> None:
        link: ProcessLink[Any, Any] = ProcessLink(worker, self.problem, self._route_notice)
        self.links[worker.name] = link
        link.start()


def _pages(frame_ring: str) -> str:
    """Which pages the frame ring got, for the log: on 4 KiB pages a direct disk write from a
    frame slot goes in requests of about 1 MB (``runtime/shm.py``; README, performance)."""
    share = huge_page_share(frame_ring)
    if share >= 0.99:
        return "frame ring on 2 MiB pages"
    if share > 0:
        return f"frame ring {share:.0%} on 2 MiB pages, the rest on 4 KiB pages"
    return "frame ring on 4 KiB pages (for 2 MiB pages mount /dev/shm with huge=advise)"

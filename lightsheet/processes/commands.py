"""The messages each process takes: its desired state, its one-shot commands, its notices.

A *state* carries the whole desired state of its process (mode, run, device settings), so when a
newer one replaces an older one on the latest-wins channel nothing is lost: the receiver moves to
the newest. A *command* is an act that must happen once, in order (finish a run, take a dark
frame, measure the piezo). A *notice* is what a process reports on its own (a run's files are
closed, with the run's final counts). See ``lightsheet.runtime.commands`` for how they travel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lightsheet.config import CameraConfig
from lightsheet.processing.engine import Failure
from lightsheet.processing.processor_channel import ClearProcessor as ClearProcessor
from lightsheet.processing.processor_channel import PipeMessage as PipeMessage
from lightsheet.processing.processor_channel import ReplaceProcessor as ReplaceProcessor

# -- camera -----------------------------------------------------------------------------------

CameraMode = Literal["paused", "preview", "acquire"]


@dataclass(frozen=True)
class CameraState:
    mode: CameraMode
    camera: CameraConfig  # exposure, binning, ROI, trigger mode
    run: int = 0  # runs and preview epochs share one counter: a new number restarts the camera
    max_frames: int | None = None  # acquire: the run ends after frame id max_frames - 1
    expected_fps: float | None = None  # the rate the camera must keep up with (warn when it lags)
    gated: bool = False  # acquire: a free-running camera starts only when the start gate opens

    def summary(self) -> str:
        cam = self.camera
        limit = "unlimited" if self.max_frames is None else f"{self.max_frames} frames"
        return (
            f"CameraState({self.mode}, run {self.run}, {limit}, exposure {cam.exposure_ms:g} ms, "
            f"{cam.trigger_mode} trigger{', gated' if self.gated else ''})"
        )


@dataclass(frozen=True)
class FinishRun:
    """End run ``run`` at the end of the volume being acquired (a stop keeps whole volumes)."""

    run: int
    volume_frames: int


# -- scanner ----------------------------------------------------------------------------------

ScannerMode = Literal["paused", "calibration", "planar", "volumetric"]


@dataclass(frozen=True)
class ScannerState:
    mode: ScannerMode
    channels: dict[str, np.ndarray] | None = None  # planar/volumetric: one period of every output
    static: dict[str, float] | None = None  # calibration: the DC value of every output
    run: int = 0
    gated: bool = False  # load the waveforms now, start playing when the start gate opens

    def summary(self) -> str:
        if self.channels is not None:
            samples = len(next(iter(self.channels.values())))
            detail = f"{samples} samples per period"
        elif self.static is not None:
            detail = ", ".join(f"{k} {v:.4g} V" for k, v in self.static.items())
        else:
            detail = "outputs safe"
        gated = ", gated" if self.gated else ""
        return f"ScannerState({self.mode}, run {self.run}, {detail}{gated})"


@dataclass(frozen=True)
class BoardSessions:
    """Notice: driver sessions the board keeps beyond the scanner's life (NI gRPC tasks), which
    the main process must release to make the outputs safe should the scanner die."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class MeasurePiezo:
    """Play ``channels`` (laser blanked, no camera trigger) and answer with one period of the
    piezo read back, in µm (None without a read-back channel)."""

    channels: dict[str, np.ndarray]

    def summary(self) -> str:
        return f"MeasurePiezo({len(next(iter(self.channels.values())))} samples)"


# -- dispatcher and saver -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """What the dispatcher and saver need to know about one acquisition run."""

    run: int
    out_dir: str
    planes: int  # frames per volume
    height: int
    width: int
    compression: str = "none"
    compression_level: int = 5
    volumes_per_chunk: int = 1
    chunk_seconds: float | None = None  # complete a chunk once its first volume is this old
    attrs: dict[str, Any] = field(default_factory=dict)
    waveforms: dict[str, Any] | None = None

    def summary(self) -> str:
        return (
            f"RunPlan(run {self.run}, {self.planes} x {self.height} x {self.width}, "
            f"{self.volumes_per_chunk} volume(s) per chunk, into {self.out_dir})"
        )


@dataclass(frozen=True)
class DispatcherState:
    mode: Literal["idle", "preview", "acquire"]
    planes: int
    height: int
    width: int
    plan: RunPlan | None = None  # acquire: the run whose frames are assembled for the saver
    subtract_dark: bool = False
    preview: bool = False  # publish to the preview buffer (only when someone watches)
    preview_hz: float = 30.0  # at most this many preview images per second

    @property
    def run(self) -> int:
        return 0 if self.plan is None else self.plan.run

    def summary(self) -> str:
        extras = [f"run {self.run}"] if self.plan is not None else []
        extras += ["dark subtracted"] if self.subtract_dark else []
        extras += [f"preview {self.preview_hz:g}/s"] if self.preview else []
        shape = f"{self.planes} x {self.height} x {self.width}"
        return f"DispatcherState({self.mode}, {shape}{', ' if extras else ''}{', '.join(extras)})"


@dataclass(frozen=True)
class TakeDark:
    """Average the first ``frames`` frames of camera epoch ``epoch`` (the laser blanked) into the
    dark frame; answered once it is ready. Frames of earlier epochs still in the ring are lit."""

    frames: int
    epoch: int


@dataclass(frozen=True)
class SaverState:
    plan: RunPlan | None  # None: no run open

    def summary(self) -> str:
        return f"SaverState({'no run' if self.plan is None else self.plan.summary()})"


@dataclass(frozen=True)
class RunClosed:
    """The saver closed a run's files: its final numbers, carried in-band with its end marker.

    ``ended`` is False when the run was cut off (no end marker: a fault, a replaced run); its
    counts then are what the saver saw, and the caller reads the rest from the files.
    """

    run: int
    ended: bool
    frames_acquired: int  # frames the camera took in the run (its own frame counter)
    frames_dropped: int  # of those, refused by a full frame ring
    frames_missing: int  # planes saved empty: dropped, or lost before reaching lightsheet
    volumes_saved: int
    chunks: int
    bytes_written: int = 0  # image data the saver wrote for the run
    write_s: float = 0.0  # time spent writing it: bytes / write_s is the sink's speed in the run
    # Uncompressed planes written O_DIRECT, through a mapping on 2 MiB pages, through the page
    # cache (``storage.direct_planes.PlanesByWay``): why the sink ran at that speed.
    planes_by_way: tuple[int, int, int] = (0, 0, 0)


# -- trigger ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerState:
    """Armed for ``run`` (0: idle) with the configured or command-line duration, if any."""

    run: int = 0
    duration_s: float | None = None
    duration_source: Literal["config", "cli"] = "config"


@dataclass(frozen=True)
class FinishTrigger:
    """The run's files are closed: tell the device (``STOPPED <volumes_saved>`` in wait mode)."""

    run: int
    volumes_saved: int



# -- processor --------------------------------------------------------------------------------
# Its one-shot commands are the mirror messages (``update_settings``, ``pipe_message``, a
# processor cleared), applied in the order they were made, and the saving of a run's results;
# its notice is a processor that raised (``ProcessorFailed``: where, traceback, what was done).


@dataclass(frozen=True)
class ProcessorState:
    """Process frames or not, and the planes per volume of what the rig scans now."""

    enabled: bool
    planes: int

    def summary(self) -> str:
        return f"ProcessorState({'on' if self.enabled else 'off'}, {self.planes} plane(s))"


@dataclass(frozen=True)
class SaveProcessed:
    """Save every result of run ``run`` into ``out_dir`` (``/processed/<name>``)."""

    run: int
    out_dir: str
    planes: int
    chunk_bytes: int  # a chunk file is completed at this size ...
    chunk_seconds: float  # ... or once its first result is this old


@dataclass(frozen=True)
class FinishProcessed:
    """Run ``run`` is closed after ``frames_acquired`` frames: the frames after the last one
    processed are recorded as not processed and the files completed; answered with a
    ``ProcessedSummary``."""

    run: int
    frames_acquired: int


ProcessorFailed = Failure  # the notice of a processor that raised
ProcessorCommand = ReplaceProcessor | PipeMessage | ClearProcessor | SaveProcessed | FinishProcessed

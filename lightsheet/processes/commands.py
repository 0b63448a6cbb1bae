"""The settings messages each process receives on its latest-wins channel.

Every message carries the whole desired state of its process (mode, run, device settings), so when
a newer message replaces an older one nothing is lost: the receiver moves to the newest state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# "finish" ends the current run at once (stop, Ctrl-C): the END marker follows the last frame.
CameraMode = Literal["paused", "preview", "acquire", "finish", "abort"]


@dataclass(frozen=True)
class CameraCommand:
    mode: CameraMode
    camera: Any  # lightsheet.config.CameraConfig: exposure, binning, ROI, trigger mode
    run: int = 0
    max_frames: int | None = None  # acquire: the run ends after frame id max_frames - 1
    expected_fps: float | None = None  # the rate the camera must keep up with (warn when it lags)
    gated: bool = False  # acquire: a free-running camera starts only when the start gate opens
    volume_frames: int = 1  # finish: the run ends at the end of the volume being acquired


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
    attrs: dict[str, Any] = field(default_factory=dict)
    waveforms: dict[str, Any] | None = None


@dataclass(frozen=True)
class DispatcherCommand:
    mode: Literal["idle", "preview", "acquire", "dark"]
    planes: int
    height: int
    width: int
    run: int = 0
    plan: RunPlan | None = None
    subtract_dark: bool = False
    dark_frames: int = 16  # frames averaged when mode == "dark"
    preview: bool = False  # publish to the preview buffer (only when someone watches)


@dataclass(frozen=True)
class SaverCommand:
    plan: RunPlan | None  # None: no run open


# "measure": play ``channels`` for a period and reply with the piezo read-back (feed-forward).
ScannerMode = Literal["paused", "calibration", "planar", "volumetric", "measure"]


@dataclass(frozen=True)
class ScannerCommand:
    """The whole desired state of the scanner; ``seq`` increases so the sender can await it."""

    seq: int
    mode: ScannerMode
    channels: dict[str, Any] | None = None  # planar/volumetric: one period of every output
    static: dict[str, float] | None = None  # calibration: the DC value of every output
    run: int = 0
    gated: bool = False  # load the waveforms now, start playing when the start gate opens


@dataclass(frozen=True)
class TriggerCommand:
    """Arm the trigger link for a run, or finish it (``STOPPED <volumes_saved>`` in wait mode)."""

    seq: int
    action: Literal["idle", "arm", "finish"]
    run: int = 0
    duration_s: float | None = None  # the configured or command-line duration, if any
    duration_source: Literal["config", "cli"] = "config"
    volumes_saved: int = 0

"""What the timing report reads from a run folder: metadata, per-frame table, played waveforms.

Every part may be missing (a run that never saved a volume, an old or hand-made folder); what is
missing becomes a note and the figures that need it are left out, so a report always comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from lightsheet.config import RigConfig
from lightsheet.storage.metadata import METADATA_FILE, read_metadata
from lightsheet.storage.run_reader import RunError, iter_frames_table, read_waveforms
from lightsheet.storage.virtual import DATASET_FILE


@dataclass
class RunInputs:
    """One run's timing evidence as read from disk; None where the run has none."""

    run_dir: Path
    metadata: dict[str, Any]
    frames: np.ndarray | None  # the per-plane table: frame_id, camera_ts, host_ts, ..., present
    waveforms: dict[str, Any] | None
    config: RigConfig | None
    notes: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str | None:
        """planar or volumetric: what the board played, else what the metadata says."""
        if self.waveforms is not None and "mode" in self.waveforms:
            return _text(self.waveforms["mode"])
        mode = self.metadata.get("mode")
        return mode if isinstance(mode, str) else None

    @property
    def trigger_mode(self) -> str | None:
        return None if self.config is None else self.config.camera.trigger_mode

    @property
    def exposure_ms(self) -> float | None:
        return None if self.config is None else float(self.config.camera.exposure_ms)

    @property
    def planes_per_volume(self) -> int | None:
        """Rows per volume of the per-frame table."""
        if self.frames is not None and self.frames.size:
            return int(self.frames["plane"].max()) + 1
        planes = self.metadata.get("planes_per_volume")
        return planes if isinstance(planes, int) and planes > 0 else None


def load_run_inputs(run_dir: str | Path) -> RunInputs:
    """Read a run's timing evidence; raises RunError only when the folder is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: not a directory")
    try:
        metadata = read_metadata(run_dir)
    except FileNotFoundError:
        raise RunError(f"{run_dir}: not a lightsheet run (no {METADATA_FILE})") from None
    except (ValueError, OSError) as exc:
        raise RunError(f"{run_dir / METADATA_FILE}: unreadable ({exc})") from None
    inputs = RunInputs(run_dir, metadata, None, None, _config(metadata))
    if inputs.config is None:
        inputs.notes.append("metadata.json holds no readable config: z alignment and lit share "
                            "need the camera settings")
    if not (run_dir / DATASET_FILE).is_file():
        inputs.notes.append(f"no {DATASET_FILE}: no frame was saved")
        return inputs
    try:
        inputs.frames = iter_frames_table(run_dir)
        inputs.waveforms = read_waveforms(run_dir)
    except (RunError, OSError, KeyError) as exc:
        inputs.notes.append(f"{DATASET_FILE}: {exc}")
    if inputs.frames is not None and inputs.waveforms is None:
        inputs.notes.append("no /waveforms in the run: the commanded schedule is unknown")
    return inputs


def _config(metadata: dict[str, Any]) -> RigConfig | None:
    raw = metadata.get("config")
    if not isinstance(raw, dict):
        return None
    try:
        return RigConfig.model_validate(raw)
    except ValidationError:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

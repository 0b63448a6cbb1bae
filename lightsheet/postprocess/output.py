"""The new run a processing job writes: /data through the run's ChunkWriter, /max_projection
as a derived dataset over its own chunk files, and metadata.json naming the source run and the
operations, written at the start (stop reason "running") and rewritten at the end with what was
done, whatever ended the job."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.postprocess.plan import Plan
from lightsheet.processing.corrections import FLOAT
from lightsheet.storage import ChunkWriter, now_iso, software_versions, write_metadata
from lightsheet.storage.derived import DerivedWriter

PROJECTION = "max_projection"
# Source metadata carried over: what the data was acquired with and how that run ended.
_SOURCE_KEYS = (
    "start_time",
    "stop_time",
    "stop_reason",
    "volumes_saved",
    "frames_acquired",
    "frames_dropped",
    "frames_missing",
)
_log = logging.getLogger(__name__)


class OutputRun:
    """Writes processed volumes in order; `finish` closes the files and the metadata."""

    def __init__(self, plan: Plan, out_dir: Path, engine: str) -> None:
        source = plan.source
        self.out_dir = Path(out_dir)
        self._plan = plan
        self.metadata: dict[str, Any] = {
            "kind": "processed",
            "versions": software_versions(),
            "host": platform.node(),
            "start_time": now_iso(),
            "stop_time": None,
            "stop_reason": "running",
            "source_run": str(source.path),
            "operations": plan.operations(),
            "engine": engine,
            "volumes_total": plan.volumes,
            "volumes_saved": 0,
            "source": {k: source.metadata[k] for k in _SOURCE_KEYS if k in source.metadata},
            **{k: source.metadata[k] for k in _SOURCE_KEYS[4:] if k in source.metadata},
        }
        if "config" in source.metadata:
            self.metadata["config"] = source.metadata["config"]
        write_metadata(self.out_dir, self.metadata)
        self._writer = ChunkWriter(
            self.out_dir,
            plan.out_volume_shape,
            FLOAT,
            source.volumes_per_chunk,
            compression=source.compression,
            compression_level=source.compression_level,
            attrs=plan.output_attrs(),
            waveforms=source.waveforms,
        )
        self._projections = (
            DerivedWriter(self.out_dir, PROJECTION, plan.out_frame_shape, np.dtype(FLOAT))
            if plan.options.max_projection
            else None
        )

    @property
    def volumes_written(self) -> int:
        return self._writer.volumes_written

    def write_volume(self, index: int, volume: np.ndarray, projection: np.ndarray | None) -> None:
        """Append processed volume ``index`` (volumes come in order) with its source's rows."""
        if index != self._writer.volumes_written:
            raise ValueError(f"volume {index} out of order ({self._writer.volumes_written} next)")
        planes = self._plan.source.shape[1]
        rows = self._plan.source.frames[index * planes : (index + 1) * planes]
        chunks_before = self._writer.chunks_completed
        self._writer.write_volume(volume, rows)
        if self._projections is not None:
            assert projection is not None
            self._projections.add(projection)
            if self._writer.chunks_completed > chunks_before:
                self._projections.flush()

    def finish(self, stop_reason: str, processing: dict[str, Any]) -> dict[str, Any]:
        """Close the files (a failed chunk stays .partial) and write the final metadata."""
        try:
            chunks_before = self._writer.chunks_completed
            self._writer.close()
            if self._projections is not None and self._writer.chunks_completed > chunks_before:
                self._projections.flush()
        finally:
            saved = sum(record.volumes for record in self._writer.chunk_records)
            self.metadata.update(
                stop_time=now_iso(),
                stop_reason=stop_reason,
                volumes_saved=saved,
                processing={**processing, "volumes_saved": saved},
            )
            write_metadata(self.out_dir, self.metadata)
            _log.info(
                "%s: %s, %d of %d volume(s) saved",
                self.out_dir,
                stop_reason,
                saved,
                self._plan.volumes,
            )
        return self.metadata

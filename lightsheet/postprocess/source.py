"""The run being processed, as far as processing needs it: shape, chunk files, per-plane table,
attributes and metadata. Every problem is one line naming the path (bad input, exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lightsheet.postprocess.options import ProcessingInputError
from lightsheet.storage import (
    CHUNKS_DIR,
    DATASET_FILE,
    RunError,
    complete_chunks,
    iter_frames_table,
    open_run,
    read_metadata,
    read_waveforms,
)
from lightsheet.storage.chunks import WRITER_ATTRS


@dataclass(frozen=True)
class ChunkFile:
    path: Path  # absolute, so that workers on other machines find it on a shared disk
    first_volume: int
    volumes: int


@dataclass
class SourceRun:
    path: Path
    shape: tuple[int, int, int, int]  # (t, z, y, x)
    dtype: np.dtype
    attrs: dict[str, Any]
    volumes_per_chunk: int
    compression: str
    compression_level: int
    frames: np.ndarray
    chunk_files: list[ChunkFile]
    metadata: dict[str, Any]
    waveforms: dict[str, Any] | None

    @property
    def present(self) -> np.ndarray:
        """(t, z) True where the plane's frame arrived."""
        return self.frames["present"].astype(bool).reshape(self.shape[:2])

    @property
    def extra_attrs(self) -> dict[str, Any]:
        """Run attributes (pixel size, z step, mode, ...) that a derived run keeps."""
        return {k: v for k, v in self.attrs.items() if k not in WRITER_ATTRS}


def open_source(run_dir: str | Path) -> SourceRun:
    """Read what processing needs of the run at ``run_dir``; ProcessingInputError if unusable."""
    path = Path(run_dir).expanduser().resolve()
    if not (path / DATASET_FILE).is_file():
        raise ProcessingInputError(f"{path}: not a lightsheet run (no {DATASET_FILE})")
    try:
        data = open_run(path)
        try:
            shape, dtype, attrs = tuple(data.shape), data.dtype, dict(data.file.attrs)
        finally:
            data.file.close()
        frames = iter_frames_table(path)
        chunks = complete_chunks(path)
        waveforms = read_waveforms(path)
    except (RunError, OSError, KeyError) as exc:
        raise ProcessingInputError(f"{path}: unreadable run ({exc})") from None
    if len(shape) != 4 or shape[0] == 0:
        raise ProcessingInputError(f"{path}: the run holds no volume to process")
    if frames.shape != (shape[0] * shape[1],):
        raise ProcessingInputError(f"{path}: per-frame table does not match the data")
    try:
        metadata = read_metadata(path)
    except (FileNotFoundError, ValueError):
        metadata = {}
    return SourceRun(
        path=path,
        shape=shape,
        dtype=np.dtype(dtype),
        attrs=attrs,
        volumes_per_chunk=int(attrs.get("volumes_per_chunk", max(1, shape[0]))),
        compression=str(attrs.get("compression", "none")),
        compression_level=int(attrs.get("compression_level", 5)),
        frames=frames,
        chunk_files=_indexed_chunks(path, chunks, shape[0]),
        metadata=metadata,
        waveforms=waveforms,
    )


def _indexed_chunks(path: Path, chunks: list, volumes: int) -> list[ChunkFile]:
    """The chunk files holding the ``volumes`` volumes dataset.h5 maps, in order."""
    files, start = [], 0
    for chunk in chunks:
        if start >= volumes:
            break
        if chunk.first_volume != start:
            break
        files.append(ChunkFile(path / CHUNKS_DIR / chunk.name, chunk.first_volume, chunk.volumes))
        start += chunk.volumes
    if start < volumes:
        raise ProcessingInputError(
            f"{path}: the chunk files do not hold the {volumes} volumes {DATASET_FILE} maps "
            "(see 'lightsheet inspect')"
        )
    return files


def read_volume_into(source: SourceRun, data: h5py.Dataset, index: int, out: np.ndarray) -> None:
    """Volume ``index`` of the open dataset into ``out`` (converted to out's dtype)."""
    if out.dtype == data.dtype:
        data.read_direct(out, source_sel=np.s_[index])
    else:
        np.copyto(out, data[index], casting="unsafe")

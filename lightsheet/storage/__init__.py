"""Saving runs: chunked HDF5 files, the dataset.h5 index over them, metadata.json, and reading
a run back. Readers must import this package (or hdf5plugin) before opening compressed data.
"""

from lightsheet.storage.chunks import (
    FRAMES_DTYPE,
    ChunkWriter,
    volumes_per_chunk,
)
from lightsheet.storage.compression import COMPRESSIONS
from lightsheet.storage.metadata import (
    METADATA_FILE,
    STOP_REASON_RUNNING,
    RunMetadata,
    json_safe,
    now_iso,
    read_metadata,
    software_versions,
    write_metadata,
)
from lightsheet.storage.run_reader import (
    FrameGap,
    RunError,
    RunSummary,
    format_summary,
    iter_frames_table,
    open_run,
    read_waveforms,
    summarize_run,
)
from lightsheet.storage.virtual import (
    CHUNKS_DIR,
    DATASET_FILE,
    ChunkRecord,
    complete_chunks,
    rebuild_dataset,
)

__all__ = [
    "CHUNKS_DIR",
    "COMPRESSIONS",
    "DATASET_FILE",
    "FRAMES_DTYPE",
    "METADATA_FILE",
    "STOP_REASON_RUNNING",
    "ChunkRecord",
    "ChunkWriter",
    "FrameGap",
    "RunError",
    "RunMetadata",
    "RunSummary",
    "complete_chunks",
    "format_summary",
    "iter_frames_table",
    "json_safe",
    "now_iso",
    "open_run",
    "read_metadata",
    "read_waveforms",
    "rebuild_dataset",
    "software_versions",
    "summarize_run",
    "volumes_per_chunk",
    "write_metadata",
]

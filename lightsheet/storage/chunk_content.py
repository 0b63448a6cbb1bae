"""What goes into a chunk file besides the pixels: attributes, the waveforms tree, per-plane rows.

Also the layout a writer is asked for (volume shape, volumes per chunk, compression), checked
before any file exists, and the attribute names the writer reserves for itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lightsheet.storage.compression import COMPRESSIONS
from lightsheet.storage.metadata import json_safe
from lightsheet.storage.virtual import CHUNK_ATTRS, DATA, FRAMES

# One row per plane of a saved volume; frame_id is -1 and present False where the frame never
# arrived, so a gap is recorded instead of shifting later planes.
FRAMES_DTYPE = np.dtype(
    [
        ("frame_id", "<i8"),
        ("camera_ts", "<f8"),
        ("host_ts", "<f8"),
        ("volume", "<i8"),
        ("plane", "<i4"),
        ("present", "?"),
    ]
)


_FRAMES_ROWS_PER_HDF5_CHUNK = 1024

FORMAT = "lightsheet-run"
FORMAT_VERSION = 1


_RUN_ATTRS = (
    "format",
    "format_version",
    "volume_shape",
    "dtype",
    "volumes_per_chunk",
    "compression",
    "compression_level",
)
_INDEX_ATTRS = ("volumes", "chunk_files")  # reserved names of dataset.h5
WRITER_ATTRS = frozenset(_RUN_ATTRS + _INDEX_ATTRS)  # set by the writer, never taken from a caller


def volumes_per_chunk(volume_nbytes: int, ram_budget_bytes: int) -> int:
    """How many volumes one chunk file holds so that a chunk fits the RAM budget (at least 1)."""
    if volume_nbytes <= 0:
        raise ValueError(f"volume size must be positive, got {volume_nbytes} bytes")
    return max(1, ram_budget_bytes // volume_nbytes)


def checked_layout(
    volume_shape: tuple[int, int, int], per_chunk: int, compression: str,
    attrs: Mapping[str, Any] | None,
) -> tuple[int, int, int]:  # fmt: skip
    """The volume shape as three ints, once the layout and the caller's attributes are valid."""
    shape = tuple(int(n) for n in volume_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"volume shape must be (z, y, x) of positive sizes, got {shape}")
    if per_chunk < 1:
        raise ValueError(f"volumes per chunk must be at least 1, got {per_chunk}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}: {compression!r}")
    clashes = sorted(WRITER_ATTRS.union(CHUNK_ATTRS) & set(attrs or {}))
    if clashes:
        raise ValueError(f"attribute name(s) reserved by the writer: {', '.join(clashes)}")
    return (shape[0], shape[1], shape[2])


def run_attrs(
    attrs: Mapping[str, Any] | None, shape: tuple[int, int, int], dtype: np.dtype,
    per_chunk: int, compression: str, compression_level: int,
) -> dict[str, Any]:  # fmt: skip
    """What every chunk file and dataset.h5 carry: the caller's attributes, then the writer's."""
    run: dict[str, Any] = {k: attr_value(v) for k, v in (attrs or {}).items()}
    run.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        volume_shape=np.array(shape, dtype=np.int64),
        dtype=dtype.str,
        volumes_per_chunk=per_chunk,
        compression=compression,
        compression_level=int(compression_level),
    )
    return run


def attr_value(value: Any) -> Any:
    """An HDF5 attribute for ``value``: numbers, strings and numeric arrays as they are,
    anything else (dicts, None, mixed lists) as a JSON string."""
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return array
        if array.dtype.kind == "U":
            return array.astype(h5py.string_dtype())
    return json.dumps(json_safe(value))


def check_h5_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} cannot name an HDF5 object")
    return name


def write_tree(group: h5py.Group, tree: Mapping[str, Any]) -> None:
    """Store a nested dict: mappings become groups, arrays datasets, scalars attributes."""
    for key, value in tree.items():
        name = check_h5_name(key)
        if isinstance(value, Mapping):
            write_tree(group.create_group(name), value)
        elif isinstance(value, (np.ndarray, list, tuple)):
            group.create_dataset(name, data=np.asarray(value))
        else:
            group.attrs[name] = attr_value(value)


def frame_rows(frames: np.ndarray, planes: int) -> np.ndarray:
    """The caller's per-plane table in the on-disk layout (the caller's may have more fields)."""
    names = frames.dtype.names or ()
    missing = [name for name in FRAMES_DTYPE.names or () if name not in names]
    if missing:
        raise ValueError(f"frames table lacks the field(s) {', '.join(missing)}")
    if frames.shape != (planes,):
        raise ValueError(f"frames table has shape {frames.shape}, expected ({planes},)")
    rows = np.empty(planes, dtype=FRAMES_DTYPE)
    for name in FRAMES_DTYPE.names or ():
        rows[name] = frames[name]
    return rows


def check_planes(
    planes: Sequence[np.ndarray], shape: tuple[int, int, int], dtype: np.dtype
) -> None:
    """A volume's planes are as many as ``shape`` says, each of its (y, x) shape and dtype."""
    expected = shape[1:]
    if len(planes) != shape[0] or any(p.shape != expected or p.dtype != dtype for p in planes):
        raise ValueError(
            f"expected {shape[0]} planes of {expected} {dtype}, got "
            f"{[(p.shape, str(p.dtype)) for p in planes]}"
        )


def create_datasets(
    chunk: h5py.File, shape: tuple[int, int, int], dtype: np.dtype, per_chunk: int,
    options: Mapping[str, Any],
) -> tuple[h5py.Dataset, h5py.Dataset]:  # fmt: skip
    """A chunk file's image data (one HDF5 chunk per plane, grown a volume at a time, which a
    contiguous dataset could not be; a plane never written reads as zeros) and its per-plane
    table, both empty."""
    planes, height, width = shape
    data = chunk.create_dataset(
        DATA,
        shape=(0, *shape),
        maxshape=(None, *shape),
        dtype=dtype,
        chunks=(1, 1, height, width),
        fillvalue=0,  # what an unwritten (gap) plane reads as
        **options,
    )
    frames = chunk.create_dataset(
        FRAMES,
        shape=(0,),
        maxshape=(None,),
        dtype=FRAMES_DTYPE,
        chunks=(min(planes * per_chunk, _FRAMES_ROWS_PER_HDF5_CHUNK),),
    )
    return data, frames


def new_chunks_dir(folder: Path) -> Path:
    """``folder`` for a run's chunk files, made if need be; refused if it holds any already."""
    folder.mkdir(parents=True, exist_ok=True)
    earlier = sorted(p.name for p in folder.glob("chunk-*"))
    if earlier:
        raise FileExistsError(
            f"{folder} already holds chunk files ({earlier[0]}...): a run folder takes one run"
        )
    return folder

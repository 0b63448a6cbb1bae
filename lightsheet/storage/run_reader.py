"""Reading a saved run back: the (t, z, y, x) array, its per-frame table, and a summary of
what happened during the run for `lightsheet inspect`.
"""

from __future__ import annotations

import datetime as _dt
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import hdf5plugin  # noqa: F401  (registers the Blosc filter that compressed chunk files need)
import numpy as np

from lightsheet.storage.direct_planes import describe_ways
from lightsheet.storage.durable import PARTIAL_SUFFIX
from lightsheet.storage.metadata import METADATA_FILE, STOP_REASON_RUNNING, read_metadata
from lightsheet.storage.virtual import CHUNKS_DIR, DATA, DATASET_FILE, FRAMES, WAVEFORMS

_LISTED_GAPS = 10


class RunError(Exception):
    """A folder is not a readable run; the message is one line naming the path."""


class FrameGap(NamedTuple):
    """Consecutive planes whose frames never arrived, starting at (volume, plane)."""

    volume: int
    plane: int
    frames: int


@dataclass
class RunSummary:
    """What `lightsheet inspect` reports about a run folder."""

    path: Path
    shape: tuple[int, ...] | None
    dtype: str | None
    compression: str | None
    volumes_saved: int
    frames_acquired: int | None
    frames_dropped: int | None
    missing_frames: int
    gaps: list[FrameGap]
    start_time: str | None
    stop_time: str | None
    duration_s: float | None
    stop_reason: str | None
    chunk_files: list[str]
    partial_files: list[str]
    unindexed_chunks: list[str]
    total_bytes: int
    metadata: dict[str, Any] = field(repr=False)

    @property
    def problems(self) -> list[str]:
        """What an operator should know before trusting this run's data."""
        found = []
        if self.shape is None:
            found.append(f"no {DATASET_FILE}: no volume was saved")
        if self.stop_reason == STOP_REASON_RUNNING:
            found.append("the run is still going or did not end cleanly (stop reason 'running')")
        if self.partial_files:
            found.append(
                f"{len(self.partial_files)} unfinished file(s), not part of the data: "
                + ", ".join(self.partial_files)
            )
        if self.unindexed_chunks:
            found.append(
                f"complete chunk file(s) missing from {DATASET_FILE}: "
                + ", ".join(self.unindexed_chunks)
            )
        recorded = self.metadata.get("volumes_saved")
        if isinstance(recorded, int) and recorded != self.volumes_saved:
            found.append(
                f"metadata records {recorded} volumes saved, {DATASET_FILE} holds "
                f"{self.volumes_saved}"
            )
        return found


def _dataset_path(run_dir: str | Path) -> Path:
    path = Path(run_dir) / DATASET_FILE
    if not path.is_file():
        raise RunError(f"{Path(run_dir)}: not a lightsheet run (no {DATASET_FILE})")
    return path


def _open_dataset_file(run_dir: str | Path) -> h5py.File:
    path = _dataset_path(run_dir)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise RunError(f"{path}: unreadable HDF5 file ({exc})") from exc


def open_run(run_dir: str | Path) -> h5py.Dataset:
    """The run's data as one read-only (t, z, y, x) dataset; close it with ``.file.close()``."""
    data_file = _open_dataset_file(run_dir)
    try:
        return data_file[DATA]
    except KeyError as exc:
        data_file.close()
        raise RunError(f"{data_file.filename}: no /{DATA} dataset") from exc


def iter_frames_table(run_dir: str | Path) -> np.ndarray:
    """Every per-plane row of the run (frame id, timestamps, volume, plane, present), in order."""
    with _open_dataset_file(run_dir) as data_file:
        if FRAMES not in data_file:
            raise RunError(f"{data_file.filename}: no /{FRAMES} table")
        table: np.ndarray = data_file[FRAMES][...]
        return table


def _read_tree(group: h5py.Group) -> dict[str, Any]:
    tree: dict[str, Any] = dict(group.attrs.items())
    for name, item in group.items():
        tree[name] = _read_tree(item) if isinstance(item, h5py.Group) else item[...]
    return tree


def read_waveforms(run_dir: str | Path) -> dict[str, Any] | None:
    """The waveforms played during the run as they were given to the writer, or None."""
    with _open_dataset_file(run_dir) as data_file:
        if WAVEFORMS not in data_file:
            return None
        return _read_tree(data_file[WAVEFORMS])


def frame_gaps(present: np.ndarray, planes: int) -> list[FrameGap]:
    """Runs of consecutive missing planes in a run's per-plane ``present`` column, in order."""
    edges = np.diff(np.concatenate(([0], (~present).astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        FrameGap(int(start) // planes, int(start) % planes, int(stop - start))
        for start, stop in zip(starts, stops, strict=True)
    ]


def _parse_time(value: Any) -> _dt.datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc)
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _duration_s(start: Any, stop: Any) -> float | None:
    begin, end = _parse_time(start), _parse_time(stop)
    if begin is None or end is None or (begin.tzinfo is None) != (end.tzinfo is None):
        return None
    return (end - begin).total_seconds()


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def summarize_run(run_dir: str | Path) -> RunSummary:
    """Everything `lightsheet inspect` shows; raises RunError for a folder that is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: not a directory")
    try:
        meta = read_metadata(run_dir)
    except FileNotFoundError as exc:
        raise RunError(f"{run_dir}: not a lightsheet run (no {METADATA_FILE})") from exc
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    except OSError as exc:
        raise RunError(f"{run_dir / METADATA_FILE}: unreadable ({exc.strerror})") from exc

    shape = dtype = compression = None
    gaps: list[FrameGap] = []
    missing = 0
    indexed: set[str] = set()
    if (run_dir / DATASET_FILE).is_file():
        with _open_dataset_file(run_dir) as data_file:
            try:
                data, frames = data_file[DATA], data_file[FRAMES]
                shape, dtype = tuple(data.shape), str(data.dtype)
                present = frames.fields("present")[...].astype(bool)
                indexed = {Path(src.file_name).name for src in data.virtual_sources()}
            except (KeyError, OSError) as exc:
                raise RunError(f"{data_file.filename}: unreadable ({exc})") from exc
            compression = _optional_str(data_file.attrs.get("compression"))
        missing = int(np.count_nonzero(~present))
        gaps = frame_gaps(present, shape[1]) if missing else []

    sizes = _file_sizes(run_dir)
    files = list(sizes)
    chunks = run_dir / CHUNKS_DIR
    chunk_files = sorted(
        path.name for path in files if path.parent == chunks and fnmatch(path.name, "chunk-*.h5")
    )
    return RunSummary(
        path=run_dir,
        shape=shape,
        dtype=dtype,
        compression=compression,
        volumes_saved=shape[0] if shape else 0,
        frames_acquired=_optional_int(meta.get("frames_acquired")),
        frames_dropped=_optional_int(meta.get("frames_dropped")),
        missing_frames=missing,
        gaps=gaps,
        start_time=_optional_str(meta.get("start_time")),
        stop_time=_optional_str(meta.get("stop_time")),
        duration_s=_duration_s(meta.get("start_time"), meta.get("stop_time")),
        stop_reason=_optional_str(meta.get("stop_reason")),
        chunk_files=chunk_files,
        partial_files=sorted(
            str(path.relative_to(run_dir)) for path in files if path.name.endswith(PARTIAL_SUFFIX)
        ),
        unindexed_chunks=[name for name in chunk_files if name not in indexed],
        total_bytes=sum(sizes.values()),
        metadata=meta,
    )


def _file_sizes(run_dir: Path) -> dict[Path, int]:
    """The size of every file in the run folder, each measured as it is listed: a run being
    written renames files meanwhile (a chunk or dataset.h5 published from its .partial), and
    one gone between its listing and its stat is left out."""
    sizes = {}
    for path in run_dir.rglob("*"):
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(status.st_mode):
            sizes[path] = status.st_size
    return sizes


def summary_as_dict(summary: RunSummary) -> dict[str, Any]:
    """The summary as JSON types, for ``lightsheet inspect --json``."""
    return {
        "path": str(summary.path),
        "shape": list(summary.shape) if summary.shape is not None else None,
        "dtype": summary.dtype,
        "compression": summary.compression,
        "volumes_saved": summary.volumes_saved,
        "frames_acquired": summary.frames_acquired,
        "frames_dropped": summary.frames_dropped,
        "missing_frames": summary.missing_frames,
        "gaps": [gap._asdict() for gap in summary.gaps],
        "start_time": summary.start_time,
        "stop_time": summary.stop_time,
        "duration_s": summary.duration_s,
        "stop_reason": summary.stop_reason,
        "chunk_files": summary.chunk_files,
        "partial_files": summary.partial_files,
        "unindexed_chunks": summary.unindexed_chunks,
        "total_bytes": summary.total_bytes,
        "saver": summary.metadata.get("saver"),
        "problems": summary.problems,
    }


def _human_bytes(count: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    size, unit = float(count), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{count} B" if unit == 0 else f"{size:.1f} {units[unit]}"


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _describe_gap(gap: FrameGap) -> str:
    return f"volume {gap.volume} plane {gap.plane} ({gap.frames} frame{'s' * (gap.frames != 1)})"


def _describe_writing(saver: Any, duration_s: float | None, compressed: bool) -> str | None:
    """How fast the disk took the run's data, as the saver timed its writes (metadata.json
    ``saver``; compressed, the time includes compressing); None for a run recorded without it."""
    if not isinstance(saver, dict) or not saver.get("write_s"):
        return None
    written = _human_bytes(int(saver.get("bytes_written", 0)))
    gbps = float(saver.get("write_gbps", 0))
    speed = f"{gbps:.2f} GB/s" if gbps >= 0.1 else f"{gbps * 1e3:.3g} MB/s"
    text = f"{written} in {saver['write_s']:.1f} s of writing: " + (
        f"{speed} of pixels, compressing and writing" if compressed
        else f"{speed}, the disk's speed in this run"
    )  # fmt: skip
    if duration_s:
        text += f" ({100 * saver['write_s'] / duration_s:.0f} % of the run spent writing)"
    planes = saver.get("planes_written")
    ways = describe_ways(planes) if isinstance(planes, dict) else None
    return text if ways is None else f"{text}; planes written {ways}"


def format_summary(summary: RunSummary) -> str:
    """The summary as aligned `label: value` lines, then any problems."""
    if summary.shape is None:
        data = "none"
    else:
        data = f"(t, z, y, x) = {summary.shape} {summary.dtype}"
        if summary.compression:
            data += f", compression {summary.compression}"
    frames = (
        f"{_count(summary.frames_acquired)} acquired, {_count(summary.frames_dropped)} dropped, "
        f"{summary.missing_frames} missing from the saved planes"
    )
    if summary.gaps:
        listed = ", ".join(_describe_gap(gap) for gap in summary.gaps[:_LISTED_GAPS])
        more = len(summary.gaps) - _LISTED_GAPS
        frames += f" in {len(summary.gaps)} gap(s): {listed}"
        if more > 0:
            frames += f", +{more} more"
    duration = "unknown" if summary.duration_s is None else f"{summary.duration_s:.1f} s"
    rows = [
        ("run", str(summary.path)),
        ("stop reason", summary.stop_reason or "unknown"),
        ("started", summary.start_time or "unknown"),
        ("stopped", summary.stop_time or "unknown"),
        ("duration", duration),
        ("data", data),
        ("volumes saved", str(summary.volumes_saved)),
        ("frames", frames),
        (
            "files",
            f"{len(summary.chunk_files)} chunk file(s), {len(summary.partial_files)} unfinished, "
            f"{_human_bytes(summary.total_bytes)} on disk",
        ),
    ]
    writing = _describe_writing(
        summary.metadata.get("saver"), summary.duration_s,
        summary.compression not in (None, "", "none"),
    )  # fmt: skip
    if writing is not None:
        rows.append(("writing", writing))
    width = max(len(label) for label, _ in rows)
    lines = [f"{label + ':':<{width + 1}} {value}" for label, value in rows]
    lines += [f"warning: {problem}" for problem in summary.problems]
    return "\n".join(lines)

"""A live processor's saved results: ``/processed/<name>`` in dataset.h5, over chunk files.

The processor writes ``DIR/processed/<name>/chunk-NNNNNN.h5`` as it goes, each complete before
it appears under its final name (like ``/data``'s chunks), holding

- ``results`` (k, *shape): the results, in the order they were made;
- ``results_index`` (k,): for each result the frame id it came from (for a volume's result the
  last frame of that volume that was processed), its volume, the settings version and how many
  frames went into it;
- ``frames`` (m,): one row per frame of the run, in frame-id order, ``present`` False for a frame
  the processor did not process (it was busy with an earlier one, or the frame never arrived):
  such frames are counted and recorded like the gaps of ``/data``.

Once the run's files are closed, ``index_processed`` maps every complete chunk file into
dataset.h5 as ``/processed/<name>``, ``/processed/<name>_results`` and
``/processed/<name>_frames`` (atomically replaced, so dataset.h5 opens at every instant). The
raw data is never touched: processed results only ever add datasets beside ``/data``.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lightsheet.storage.durable import partial_path, publish
from lightsheet.storage.virtual import DATASET_FILE, chunk_file_name

PROCESSED_DIR = "processed"
RESULTS, RESULTS_INDEX, FRAMES = "results", "results_index", "frames"
RESULTS_INDEX_DTYPE = np.dtype(
    [("frame_id", "<i8"), ("volume", "<i8"), ("version", "<i8"), ("frames", "<i8")]
)
FRAME_ROWS_DTYPE = np.dtype(
    [("frame_id", "<i8"), ("volume", "<i8"), ("plane", "<i4"), ("present", "?")]
)
MAX_PENDING_FRAME_ROWS = 100_000
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessedSummary:
    """What was saved of one processor's results in one run."""

    name: str
    results: int
    frames_processed: int
    frames_not_processed: int
    results_not_saved: int  # results whose shape or dtype differed from the first one's
    chunks: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProcessedWriter:
    """Writes one processor's results of one run, chunk by chunk."""

    def __init__(
        self,
        run_dir: str | Path,
        name: str,
        planes: int,
        chunk_bytes: int,
        chunk_seconds: float,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"processed dataset name must be a plain name, got {name!r}")
        self.name = name
        self._dir = Path(run_dir) / PROCESSED_DIR / name
        self._dir.mkdir(parents=True, exist_ok=True)
        if any(self._dir.glob("chunk-*")):
            raise FileExistsError(f"{self._dir} already holds chunk files")
        self._planes = max(planes, 1)
        self._chunk_bytes = max(chunk_bytes, 1)
        self._chunk_seconds = chunk_seconds
        self._attrs = dict(attrs or {})  # h5py-ready: str and numbers
        self._item: tuple[tuple[int, ...], np.dtype] | None = None
        self._results: list[np.ndarray] = []
        self._index: list[tuple[int, int, int, int]] = []
        self._rows: list[tuple[int, bool]] = []
        self._pending_bytes = 0
        self._oldest: float | None = None
        self._next_frame = 0
        self._chunks = self._saved = self._processed = self._not_processed = self._refused = 0

    def frame(self, frame_id: int, processed: bool = True) -> None:
        """Frame ``frame_id`` was processed; every frame before it not yet recorded was not."""
        if frame_id < self._next_frame:
            return
        for skipped in range(self._next_frame, frame_id):
            self._rows.append((skipped, False))
        self._rows.append((frame_id, processed))
        self._not_processed += frame_id - self._next_frame + (0 if processed else 1)
        self._processed += int(processed)
        self._next_frame = frame_id + 1
        if len(self._rows) >= MAX_PENDING_FRAME_ROWS:
            self.flush()

    def result(self, data: np.ndarray, frame_id: int, volume: int, version: int,
               frames: int) -> bool:  # fmt: skip
        """Add one result; False (counted) when it cannot join the ones before it."""
        item = (tuple(data.shape), np.dtype(data.dtype))
        if self._item is None:
            self._item = item
        elif item != self._item:
            self._refused += 1
            if self._refused == 1:
                _log.warning("%s: a %s %s result cannot be saved with the earlier %s %s ones",
                             self.name, item[0], item[1], *self._item)  # fmt: skip
            return False
        self._results.append(np.array(data, copy=True))
        self._index.append((frame_id, volume, version, frames))
        self._pending_bytes += data.nbytes
        if self._oldest is None:
            self._oldest = time.monotonic()
        self.tick()
        return True

    def tick(self) -> None:
        """Complete the chunk in hand when it is full or old enough."""
        old = self._oldest is not None and time.monotonic() - self._oldest >= self._chunk_seconds
        if self._pending_bytes >= self._chunk_bytes or old:
            self.flush()

    def finish(self, frames_acquired: int | None) -> ProcessedSummary:
        """The run has ``frames_acquired`` frames (None: unknown, a run cut off): the frames
        after the last one recorded were not processed; complete the last chunk."""
        if frames_acquired is not None and frames_acquired > self._next_frame:
            self.frame(frames_acquired - 1, processed=False)
        self.flush()
        return ProcessedSummary(self.name, self._saved, self._processed, self._not_processed,
                                self._refused, self._chunks)  # fmt: skip

    def flush(self) -> None:
        """Write what is pending as one complete chunk file (nothing when nothing is pending)."""
        if not self._results and not self._rows:
            return
        final = self._dir / chunk_file_name(self._chunks)
        partial = partial_path(final)
        with h5py.File(partial, "w") as out:
            if self._results:
                out.create_dataset(RESULTS, data=np.stack(self._results))
            out.create_dataset(RESULTS_INDEX, data=np.array(self._index, RESULTS_INDEX_DTYPE))
            out.create_dataset(FRAMES, data=self._frame_rows())
            out.attrs.update(self._attrs)
            out.attrs.update(chunk_index=self._chunks, first_result=self._saved, name=self.name)
        publish(partial, final)
        self._chunks += 1
        self._saved += len(self._results)
        self._results, self._index, self._rows = [], [], []
        self._pending_bytes, self._oldest = 0, None

    def _frame_rows(self) -> np.ndarray:
        rows = np.zeros(len(self._rows), FRAME_ROWS_DTYPE)
        if self._rows:
            ids = np.array([r[0] for r in self._rows], dtype=np.int64)
            rows["frame_id"] = ids
            rows["volume"], rows["plane"] = np.divmod(ids, self._planes)
            rows["present"] = [r[1] for r in self._rows]
        return rows


def index_processed(run_dir: str | Path) -> dict[str, ProcessedSummary]:
    """Map every processor's complete chunk files into dataset.h5; what each holds, by name."""
    run_dir = Path(run_dir)
    found: dict[str, ProcessedSummary] = {}
    root = run_dir / PROCESSED_DIR
    dataset = run_dir / DATASET_FILE
    if not root.is_dir() or not dataset.is_file():
        return found
    layouts: dict[str, dict[str, h5py.VirtualLayout]] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        chunks = sorted(folder.glob("chunk-*.h5"))
        if chunks:
            name = folder.name
            layouts[name], attrs[name], found[name] = _layouts(run_dir, name, chunks)
    if not layouts:
        return found
    partial = partial_path(dataset)
    shutil.copyfile(dataset, partial)
    with h5py.File(partial, "r+") as out:
        group = out.require_group(PROCESSED_DIR)
        for name, datasets in layouts.items():
            for key, layout in datasets.items():
                if key in group:
                    del group[key]
                fill = 0 if layout.dtype.names is None else None  # tables: no fill value
                group.create_virtual_dataset(key, layout, fillvalue=fill)
            if name in group:
                group[name].attrs.update(attrs[name])
    publish(partial, dataset)
    return found


def _layouts(run_dir: Path, name: str, chunks: list[Path]) -> tuple[
        dict[str, h5py.VirtualLayout], dict[str, Any], ProcessedSummary]:  # fmt: skip
    """The virtual layouts of one processor's chunk files, its attributes, and its counts."""
    shapes = []
    item: tuple[tuple[int, ...], np.dtype] | None = None
    chunk_attrs: dict[str, Any] = {}
    for path in chunks:
        with h5py.File(path, "r") as chunk:
            results = chunk[RESULTS].shape[0] if RESULTS in chunk else 0
            if results and item is None:
                item = (tuple(chunk[RESULTS].shape[1:]), chunk[RESULTS].dtype)
            present = np.asarray(chunk[FRAMES]["present"], dtype=bool)
            shapes.append((path, results, len(present), int(present.sum())))
            chunk_attrs = {k: v for k, v in chunk.attrs.items()
                           if k not in ("chunk_index", "first_result")}  # fmt: skip
    total = sum(s[1] for s in shapes)
    rows = sum(s[2] for s in shapes)
    processed = sum(s[3] for s in shapes)
    layouts = {
        f"{name}_results": h5py.VirtualLayout((total,), RESULTS_INDEX_DTYPE),
        f"{name}_frames": h5py.VirtualLayout((rows,), FRAME_ROWS_DTYPE),
    }
    if item is not None:
        layouts[name] = h5py.VirtualLayout((total, *item[0]), item[1])
    at_result = at_row = 0
    for path, results, frame_rows, _ in shapes:
        source = f"{PROCESSED_DIR}/{name}/{path.name}"
        if results:
            if item is not None:
                layouts[name][at_result : at_result + results] = h5py.VirtualSource(
                    source, RESULTS, shape=(results, *item[0]), dtype=item[1])  # fmt: skip
            layouts[f"{name}_results"][at_result : at_result + results] = h5py.VirtualSource(
                source, RESULTS_INDEX, shape=(results,), dtype=RESULTS_INDEX_DTYPE)  # fmt: skip
        if frame_rows:
            layouts[f"{name}_frames"][at_row : at_row + frame_rows] = h5py.VirtualSource(
                source, FRAMES, shape=(frame_rows,), dtype=FRAME_ROWS_DTYPE)  # fmt: skip
        at_result += results
        at_row += frame_rows
    summary = ProcessedSummary(name, total, processed, rows - processed, 0, len(chunks))
    chunk_attrs.update(frames_processed=processed, frames_not_processed=rows - processed)
    return layouts, chunk_attrs, summary

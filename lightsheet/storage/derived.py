"""Per-volume results derived from a run's data (e.g. a maximum projection (t, y, x)), stored
like /data: in their own chunk files ``DIR/<name>/chunk-NNNNNN.h5``, each appearing under its
final name only when complete, and mapped into dataset.h5 as ``/<name>``.

dataset.h5 is rewritten by the run's ChunkWriter at every completed chunk; `index_derived` adds
the derived dataset back to it afterwards, again by atomic replacement, so dataset.h5 opens at
every instant (between the two it briefly lacks ``/<name>``, never holds a torn one).
`rebuild_dataset` re-indexes /data only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from lightsheet.storage.durable import partial_path, publish
from lightsheet.storage.virtual import DATASET_FILE, chunk_file_name


class DerivedWriter:
    """Writes one derived dataset chunk by chunk; `flush` completes the chunk in hand."""

    def __init__(
        self, run_dir: str | Path, name: str, item_shape: tuple[int, ...], dtype: np.dtype
    ) -> None:
        if not name.isidentifier():
            raise ValueError(f"derived dataset name must be an identifier, got {name!r}")
        self._run_dir = Path(run_dir)
        self._dir = self._run_dir / name
        self._dir.mkdir(parents=True, exist_ok=True)
        if any(self._dir.glob("chunk-*")):
            raise FileExistsError(f"{self._dir} already holds chunk files")
        self.name = name
        self._item_shape = tuple(int(n) for n in item_shape)
        self._dtype = np.dtype(dtype)
        self._pending: list[np.ndarray] = []
        self._chunks: list[tuple[str, int]] = []  # (file name, items)
        self._items_written = 0

    @property
    def items_written(self) -> int:
        """Items in complete chunk files."""
        return self._items_written

    def add(self, item: np.ndarray) -> None:
        if item.shape != self._item_shape:
            raise ValueError(f"{self.name}: item is {item.shape}, expected {self._item_shape}")
        self._pending.append(np.array(item, dtype=self._dtype, copy=True))

    def flush(self) -> None:
        """Write the items added since the last flush as one complete chunk file and map all
        chunk files into dataset.h5. Does nothing without pending items."""
        if not self._pending:
            return
        final = self._dir / chunk_file_name(len(self._chunks))
        partial = partial_path(final)
        with h5py.File(partial, "w") as out:
            out.create_dataset(self.name, data=np.stack(self._pending))
            out.attrs["first_volume"] = self._items_written
            out.attrs["volumes"] = len(self._pending)
        publish(partial, final)
        self._chunks.append((final.name, len(self._pending)))
        self._items_written += len(self._pending)
        self._pending = []
        self.index()

    def index(self) -> None:
        """(Re)map the complete chunk files into dataset.h5 as /<name>."""
        index_derived(self._run_dir, self.name, self._chunks, self._item_shape, self._dtype)


def index_derived(
    run_dir: str | Path,
    name: str,
    chunks: list[tuple[str, int]],
    item_shape: tuple[int, ...],
    dtype: np.dtype,
) -> Path:
    """Replace dataset.h5 by a copy that also maps ``chunks`` (file name, items) as /<name>."""
    run_dir = Path(run_dir)
    total = sum(count for _, count in chunks)
    layout = h5py.VirtualLayout((total, *item_shape), dtype)
    start = 0
    for file_name, count in chunks:
        source = h5py.VirtualSource(
            f"{name}/{file_name}", name, shape=(count, *item_shape), dtype=dtype
        )
        layout[start : start + count] = source
        start += count
    final = run_dir / DATASET_FILE
    partial = partial_path(final)
    shutil.copyfile(final, partial)
    with h5py.File(partial, "r+") as out:
        if name in out:
            del out[name]
        out.create_virtual_dataset(name, layout, fillvalue=0)
    publish(partial, final)
    return final

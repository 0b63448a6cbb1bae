"""A run's empty chunk file, built once in memory and written out as each new chunk.

Why: every chunk file carries the run's attributes, its two empty datasets and the scan's
waveforms tree. Made through HDF5 object by object (an attribute, a dataset at a time) that cost
7-9.5 ms of the saver's CPU a chunk on the development VM, and the saver paid it between two
volumes' writes, while the sink had nothing to do: with 256 MB chunks (a tmpfs) a new file
every three volumes, at 160 frames/s 0.5 s of a 12 s run. Built once with HDF5's in-memory
driver, the empty file is an image of bytes; a new chunk is that image written to its path,
opened, and given its own two attributes (``chunk_index``, ``first_volume``): 1.0-1.1 ms
(``tests/storage/test_chunk_template.py`` checks the result against a file made the old way).

A reader sees no difference: the same attributes, the same datasets with the same creation
properties (chunk shape, fill value and time, allocation time, filters) and the same waveforms.
The file access properties (the plane alignment of ``direct_planes.py``) are not part of a file
and are given again when the chunk is opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lightsheet.storage.chunk_content import create_datasets, write_tree
from lightsheet.storage.virtual import DATA, FRAMES, WAVEFORMS


class ChunkTemplate:
    """The empty chunk file of one run's layout; ``create`` makes each chunk from it."""

    def __init__(
        self,
        run_attrs: Mapping[str, Any],
        shape: tuple[int, int, int],
        dtype: np.dtype,
        per_chunk: int,
        dataset_options: Mapping[str, Any],
        file_options: Mapping[str, Any],
        waveforms: Mapping[str, Any] | None,
    ) -> None:
        self._file_options = dict(file_options)
        name = f"chunk-template-{id(self)}.h5"  # in memory only; HDF5 wants a name
        with h5py.File(name, "w", driver="core", backing_store=False,
                       **self._file_options) as empty:  # fmt: skip
            empty.attrs.update(run_attrs)
            create_datasets(empty, shape, dtype, per_chunk, dataset_options)
            if waveforms:
                write_tree(empty.create_group(WAVEFORMS), waveforms)
            empty.flush()
            self._image = bytes(empty.id.get_file_image())

    def create(
        self, path: Path, index: int, first_volume: int
    ) -> tuple[h5py.File, h5py.Dataset, h5py.Dataset]:
        """A new chunk file at ``path`` (replacing any there), open for writing, with its data
        and per-plane table datasets."""
        path.write_bytes(self._image)
        chunk = h5py.File(path, "r+", **self._file_options)
        try:
            chunk.attrs["chunk_index"] = index
            chunk.attrs["first_volume"] = first_volume
            data, frames = chunk[DATA], chunk[FRAMES]
        except BaseException:
            chunk.close()
            raise
        return chunk, data, frames

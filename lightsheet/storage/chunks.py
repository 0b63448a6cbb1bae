"""Chunk files of a run: a fixed number of volumes per HDF5 file, plus their per-plane table.

A chunk is written as ``chunks/chunk-NNNNNN.h5.partial`` and renamed to its final name only
once it is closed and fsynced, so a file under a final name is always whole; a writer killed
mid-chunk leaves only a ``.partial``, which dataset.h5 never maps; its metadata is flushed after
each volume, so the volumes it finished can be salvaged after a crash (``salvage.py``). The saver
publishes a completed chunk behind it, on a thread, while it writes the next
(``publish_behind.py``).

Uncompressed planes are written straight from the caller's buffer (the camera's shared-memory
frame slot), one (1, 1, y, x) HDF5 chunk per plane, into the space HDF5 allocated for that
chunk, with ``O_DIRECT`` on a disk so that the saver's thread copies nothing and the disk's
controller reads the slot (``direct_planes.py``), on a thread while the next volume's HDF5
bookkeeping runs (``start_planes``, ``volume_in_flight.py``). Compressed planes are compressed by
Blosc2 on every core and written with ``H5Dwrite_chunk`` (``compression.py``).

Each chunk file starts as a copy of the run's empty chunk file (its attributes, datasets and
waveforms), built once in memory, so that a new chunk costs the writer about a millisecond between
two volumes instead of several (``chunk_template.py``).

The index (``dataset.h5``) maps every chunk, so rewriting it costs more with every chunk; when
and where it is rewritten (``index_budget``, ``index_in_child``) is ``run_index.py``'s.

A chunk is completed when it holds its volumes, or once its first volume is ``chunk_seconds``
old: a saver that dies loses at most the chunk it was writing, so at most that long of the run.
Before each chunk the disk must have room for all of it plus a reserve (``space.py``); a disk
too full is ``DiskFull``, raised before anything of the chunk is written.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lightsheet.storage.chunk_content import (
    FRAMES_DTYPE,
    WRITER_ATTRS,
    check_planes,
    checked_layout,
    frame_rows,
    new_chunks_dir,
    run_attrs,
    volumes_per_chunk,
)
from lightsheet.storage.chunk_template import ChunkTemplate
from lightsheet.storage.compression import PlaneCompressor
from lightsheet.storage.direct_planes import (
    PlanesByWay,
    UncompressedPlanes,
    aligned_file_options,
    preallocated_dataset_options,
)
from lightsheet.storage.durable import PARTIAL_SUFFIX, partial_path, publish
from lightsheet.storage.publish_behind import PublishBehind
from lightsheet.storage.run_index import RunIndex
from lightsheet.storage.space import disk_full_while, is_disk_full, require_room
from lightsheet.storage.virtual import (
    CHUNKS_DIR,
    ChunkRecord,
    chunk_file_name,
    chunk_records,
)
from lightsheet.storage.volume_in_flight import VolumeInFlight

__all__ = ["FRAMES_DTYPE", "WRITER_ATTRS", "ChunkWriter", "volumes_per_chunk"]

_log = logging.getLogger(__name__)


class ChunkWriter:
    """Writes the volumes of one run into chunk files and keeps dataset.h5 indexing them.

    Not thread-safe: one saver owns it. After an error while writing, the current chunk stays
    ``.partial`` (its last volume may be torn) and further writes are refused.

    ``publish_behind``: a completed chunk is published (fsynced and renamed) on a thread while
    the next one is written, and counts once that has landed (``publish_behind.py``); a failed
    publish is raised by the next write or by ``close``. Otherwise a chunk is published, and
    counts, before the write that completed it returns.
    """

    def __init__(
        self,
        run_dir: str | Path,
        volume_shape: tuple[int, int, int],
        dtype: np.dtype | str | type,
        volumes_per_chunk: int,
        compression: str = "none",
        compression_level: int = 5,
        attrs: Mapping[str, Any] | None = None,
        waveforms: Mapping[str, Any] | None = None,
        chunk_seconds: float | None = None,
        index_budget: float | None = None,
        index_in_child: bool = False,
        publish_behind: bool = False,
    ) -> None:
        shape = checked_layout(volume_shape, volumes_per_chunk, compression, attrs)
        self._compressor = (
            None if compression == "none" else PlaneCompressor(compression, compression_level)
        )

        self._run_dir = Path(run_dir)
        self._chunks_dir = new_chunks_dir(self._run_dir / CHUNKS_DIR)
        self._shape = shape
        self._dtype = np.dtype(dtype)
        self._per_chunk = int(volumes_per_chunk)
        self._chunk_seconds = chunk_seconds
        self._chunk_opened = 0.0
        self._run_attrs = run_attrs(
            attrs, shape, self._dtype, self._per_chunk, compression, compression_level
        )
        # Every chunk file starts as a copy of this empty one (``chunk_template.py``).
        # (A bad waveforms tree raises here; the compressor has no threads before its first plane.)
        compressor = self._compressor
        self._template = ChunkTemplate(
            self._run_attrs, shape, self._dtype, self._per_chunk,
            compressor.dataset_options() if compressor else preallocated_dataset_options(),
            {} if compressor else aligned_file_options(), waveforms,
        )  # fmt: skip
        # Volumes in each complete chunk: an integer, no object per chunk (first volumes follow).
        self._volume_counts = array("q")
        self._file: h5py.File | None = None
        self._data: h5py.Dataset | None = None
        self._frames: h5py.Dataset | None = None
        self._partial: Path | None = None
        # Uncompressed planes: pwritten where HDF5 allocated them, directly on a disk.
        self._planes_out = None if self._compressor else UncompressedPlanes(self._chunks_dir)
        # ... on a thread, while the next volume is prepared (``volume_in_flight.py``).
        self._in_flight = None if self._compressor else VolumeInFlight()
        self._compress_s = 0.0
        self._in_chunk = self._volumes_written = self._bytes_written = 0
        self._failed = self._closed = False
        # Each completed chunk's publish runs behind the writer (``publish_behind.py``).
        self._behind: PublishBehind[tuple[Path, int, int]] | None = (
            PublishBehind() if publish_behind else None
        )
        self._index = RunIndex(
            self._run_dir, shape, self._dtype, self._run_attrs, index_budget, index_in_child
        )

    @property
    def volumes_written(self) -> int:
        """Volumes handed to HDF5, including those of the chunk still being written."""
        return self._volumes_written

    @property
    def chunks_completed(self) -> int:
        return len(self._volume_counts)

    @property
    def planes_by_way(self) -> PlanesByWay:
        """Uncompressed planes written so far each way (none when compressed)."""
        return self._planes_out.by_way if self._planes_out else PlanesByWay(0, 0, 0)

    @property
    def bytes_written(self) -> int:
        """Image bytes of the planes written (a gap's plane is not), before compression."""
        return self._bytes_written

    @property
    def chunk_records(self) -> list[ChunkRecord]:
        """The complete chunk files, in volume order, built on each call from their counts."""
        return chunk_records(self._volume_counts)

    def write_volume(self, volume: np.ndarray, frames: np.ndarray) -> None:
        """Append one (z, y, x) volume and its per-plane table; completes the chunk when full.

        ``volume`` may be a view into shared memory: uncompressed planes are written from it
        without a copy, and it is not referenced after the call returns. A plane the table marks
        absent is not written (it reads as zeros): a saver behind a camera that dropped whole
        volumes catches up instead of writing 8 MB of zeros for each of their planes.
        """
        if volume.shape != self._shape or volume.dtype != self._dtype:
            raise ValueError(f"volume is {volume.shape} {volume.dtype}, expected {self._shape} "
                             f"{self._dtype}")  # fmt: skip
        self.write_planes(list(volume), frames)

    def write_planes(self, planes: Sequence[np.ndarray], frames: np.ndarray) -> None:
        """``write_volume`` for a volume whose planes are apart in memory (each in the camera's
        frame slot it arrived in), written from where they are; landed when it returns."""
        self.start_planes(planes, frames)
        self.finish_volumes()

    def start_planes(self, planes: Sequence[np.ndarray], frames: np.ndarray) -> None:
        """``write_planes`` that may return while uncompressed planes are still being written:
        their memory stays the caller's until ``volumes_in_flight`` no longer counts them."""
        if self._closed:
            raise RuntimeError("the chunk writer is closed")
        if self._failed:
            raise RuntimeError("an earlier write failed; the chunk writer refuses more volumes")
        self._settle(wait=False)
        check_planes(planes, self._shape, self._dtype)
        rows = frame_rows(frames, self._shape[0])
        nbytes = int(np.prod(self._shape)) * self._dtype.itemsize
        if self.volumes_in_flight and self._chunk_is_done():
            self.finish_volumes()  # the next volume goes into a new chunk file
        if self._file is None:
            need = self._per_chunk * nbytes
            require_room(self._chunks_dir, need, f"chunk {self.chunks_completed}")
        with self._failing("writing a volume"):
            self._index.collect()
            if self._file is None:
                self._open_chunk()
            write = self._prepare(planes, rows)
            if self._in_flight is not None and write is not None:
                # The file's metadata is written only between two direct writes: on ext4 a
                # write to the file waits for the inode lock a direct write holds.
                if self._in_flight.wait():  # the volume before: whole on the disk
                    self._mark_volume_finished(self._in_chunk)
                self._in_flight.start(write)
        self._in_chunk, self._volumes_written = self._in_chunk + 1, self._volumes_written + 1
        self._bytes_written += nbytes // self._shape[0] * int(rows["present"].sum())
        if self.volumes_in_flight == 0:
            self._volume_landed()

    def finish_volumes(self) -> None:
        """Wait for the volume in flight, if any, and count it in its file (or complete the
        chunk it fills): afterwards the caller may reuse every plane handed in."""
        if self._in_flight is None or not self._in_flight.pending:
            return
        with self._failing("writing a volume"):
            self._in_flight.wait()
        self._volume_landed()

    @property
    def volumes_in_flight(self) -> int:
        """Volumes handed in whose planes are still being read (0 or 1)."""
        return int(self._in_flight is not None and self._in_flight.pending)

    @property
    def write_seconds(self) -> float:
        """Time spent writing (compressing) image data, volumes in flight not yet counted."""
        landed = 0.0 if self._in_flight is None else self._in_flight.write_s
        return landed + self._compress_s

    def _volume_landed(self) -> None:
        """The newest volume is whole on the disk: complete its chunk, or count it in the file."""
        if self._chunk_is_done():
            self._complete_chunk()
        else:
            self._mark_volume_finished(self._in_chunk)

    def _chunk_is_done(self) -> bool:
        """Full, or its first volume is ``chunk_seconds`` old."""
        limit = self._chunk_seconds
        old = limit is not None and time.monotonic() - self._chunk_opened >= limit
        return self._in_chunk == self._per_chunk or old

    def _mark_volume_finished(self, count: int) -> None:
        """The open chunk's file describes its first ``count`` volumes, every one whole on the
        disk (``salvage.py``); a volume still in flight is beyond that count."""
        assert self._file is not None
        with self._failing("writing a volume"):
            self._file.attrs["volumes"] = count
            self._file.flush()

    def close(self) -> None:
        """Complete the last chunk with the volumes it holds. Safe to call twice.

        After a failed write the last chunk is left ``.partial`` instead: it may hold a torn
        volume, and only whole chunk files may carry a final name.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if not self._failed:
                self.finish_volumes()
            self._settle(wait=True)
            if self._file is not None and not self._failed:
                self._complete_chunk()
            if not self._failed:
                self._finish_index()
        finally:
            self._index.close()  # after a failure: a rewrite in flight still completes
            if self._compressor is not None:
                self._compressor.close()
            if self._in_flight is not None:
                self._in_flight.close()  # a write in flight ends before its file is closed
            if self._planes_out is not None:
                self._planes_out.close_file()
            if self._behind is not None:
                self._behind.close()
            self._abandon_open_chunk()

    def _abandon_open_chunk(self) -> None:
        """After a failure: the open chunk stays ``.partial``, its handle closed."""
        if self._file is None:
            return
        _log.warning("left %s unfinished after a failed write", self._partial)
        try:
            self._file.close()  # its plane descriptors: closed by ``close`` just before
        except Exception:
            _log.warning("could not close %s", self._partial, exc_info=True)
        self._file = None

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_chunk(self) -> None:
        in_flight = self._behind is not None and self._behind.in_flight
        index = self.chunks_completed + int(in_flight)
        partial = partial_path(self._chunks_dir / chunk_file_name(index))
        chunk, data, frames = self._template.create(partial, index, self._volumes_written)
        try:
            if self._planes_out is not None:
                self._planes_out.open_file(partial)
        except BaseException:
            chunk.close()
            raise
        self._file, self._data, self._frames = chunk, data, frames
        self._partial, self._in_chunk = partial, 0
        self._chunk_opened = time.monotonic()
        _log.debug("opened %s", partial)

    def _prepare(
        self, volume: Sequence[np.ndarray], rows: np.ndarray
    ) -> Callable[[], None] | None:
        """The volume's HDF5 part: its space and its rows of the per-plane table. Compressed
        planes are written here; uncompressed ones are returned as the write still to do."""
        assert self._file is not None and self._data is not None and self._frames is not None
        index = self._in_chunk
        planes = self._shape[0]
        self._data.resize(index + 1, axis=0)
        self._frames.resize((index + 1) * planes, axis=0)
        self._frames.write_direct(rows, dest_sel=np.s_[index * planes : (index + 1) * planes])
        present = rows["present"]
        # A gap's HDF5 chunk stays unwritten and reads as zeros.
        written = [plane for plane in range(planes) if present[plane]]
        images = [np.ascontiguousarray(volume[plane]) for plane in written]  # views if they can
        if self._planes_out is not None:
            runs = self._planes_out.prepare(self._data, index, written, images)
            return functools.partial(self._planes_out.write_prepared, runs)
        assert self._compressor is not None
        started = time.perf_counter()
        self._compressor.write_planes(self._data, index, written, images)
        self._compress_s += time.perf_counter() - started
        return None

    def _complete_chunk(self) -> None:
        assert self._file is not None and self._partial is not None
        self._settle(wait=True)  # at most one publish in flight
        partial, count = self._partial, self._in_chunk
        final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
        chunk = (final, self._volumes_written - count, count)
        with self._failing("completing a chunk"):
            self._file.attrs["volumes"] = count
            if self._planes_out is not None:
                self._planes_out.close_file()
            self._file.close()
            self._file = self._data = self._frames = None
            self._partial, self._in_chunk = None, 0
            if self._behind is None or self._closed:
                publish(partial, final)
                self._chunk_published(*chunk)
            else:
                self._behind.start(partial, final, chunk)

    def _settle(self, wait: bool) -> None:
        """Count the chunk published behind the writer once it has landed (``wait``: now)."""
        if self._behind is None:
            return
        with self._failing("completing a chunk"):
            landed = self._behind.landed(wait)
            if landed is not None:
                self._chunk_published(*landed)

    def _chunk_published(self, final: Path, first: int, count: int) -> None:
        self._volume_counts.append(count)
        self._index.chunk_completed(self._volume_counts, rewrite=not self._closed)
        _log.info("completed %s: volumes %d..%d", final.name, first, first + count - 1)

    def _finish_index(self) -> None:
        with self._failing("writing dataset.h5"):
            self._index.finish(self._volume_counts)

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """An error inside leaves the writer failed (it refuses more volumes); a full disk is
        raised as ``DiskFull`` saying how much is free and that it happened while ``what``."""
        try:
            yield
        except BaseException as exc:
            self._failed = True
            if is_disk_full(exc):
                raise disk_full_while(self._chunks_dir, exc, what) from None
            raise

"""Uncompressed planes written from the caller's memory into the chunks HDF5 allocated for them.

Why: through HDF5 (``H5Dwrite_chunk``, then ``write(2)``) the saver's thread copies every plane
into the page cache. At 150 frames/s that copy took 35 ms of a volume's 67 ms, most of a core
of a 2-core machine whose other core the camera and the dispatcher need. With ``O_DIRECT`` the
disk's controller reads the plane straight from the camera's shared-memory frame slot: 3.3 GB
written at 1.9-2.2 GB/s for 0.2 s of CPU on this machine, against 1.2-1.4 s through the page
cache (``/tmp`` probe, 400 planes of 8 MiB). In the pipeline at 200 frames/s the saver went from
0.6 of a core to 0.09, and the frames dropped from 338-422 to 120-156 (alternating runs).

What limits it: a direct request is built from the slot's physically contiguous pieces, at
most the disk's ``max_segments`` of them (254 on this VM). From 4 KiB pages that is about 1 MB,
while the kernel's writeback sends 4 MB requests from the page cache's large folios, which this
VM's disk took faster (2.8-3.2 against 1.7-2.3 GB/s raw); the page cache costs the copy that two
cores cannot pay beside the camera, and writing part of each volume that way measured worse.
From 2 MiB pages (the ring asks for them, ``runtime/shm.py``; /dev/shm mounted ``huge=advise``)
a request reaches 4 MB: 2.4-2.6 against 1.8 GB/s from a ring slot. Consecutive planes go in one
``pwritev``.

The chunk file stays an ordinary HDF5 file, the same bytes a reader got before: its dataset is
created with each chunk's space allocated as the dataset grows (``ALLOC_TIME_EARLY``), at
offsets aligned to ``ALIGN`` (the file's alignment), and never filled by HDF5
(``FILL_TIME_NEVER``). ``get_chunk_info_by_coord`` names each plane's offset and the plane is
written there with ``pwritev``, on a file descriptor of this module's own. A plane never written
(a gap) is a hole in the file and reads as zeros, as the fill value says.

Direct I/O needs the memory address, the file offset and the length aligned (``ALIGN`` covers
the block sizes of disks). A plane that is not (a region of interest with an odd row), a
filesystem that refuses ``O_DIRECT``, and a tmpfs (which accepts it but measured four times
slower than a plain write, ``filesystem.py``) go through the page cache with a plain
``pwritev`` and their writeback started, as before; on a tmpfs the kernel's copy is done by
one thread (the class says why). A tmpfs mounted ``huge=advise`` gets its planes copied through
a mapping of the file instead, on 2 MiB pages, for a third of the CPU (``mapped_fill.py``).
``UncompressedPlanes.by_way`` counts the planes each way.

Durability is unchanged: a direct write has reached the device when it returns, and the
chunk's fsync at its publish flushes the device's cache, as it does for page-cache writes.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from lightsheet.storage.durable import start_writeback
from lightsheet.storage.filesystem import is_tmpfs
from lightsheet.storage.mapped_fill import MappedFill, maps_huge_pages

ALIGN = 4096  # bytes: the page size, and a multiple of every disk's logical block
_IOV_MAX = 512  # buffers per pwritev; Linux takes 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)  # Linux; elsewhere every plane goes the cached way
_log = logging.getLogger(__name__)


def aligned_file_options() -> dict[str, int]:
    """``h5py.File`` options that start every allocation of ``ALIGN`` bytes or more on an
    ``ALIGN`` boundary, so each plane's chunk can be written directly."""
    return {"alignment_threshold": ALIGN, "alignment_interval": ALIGN}


def preallocated_dataset_options() -> dict[str, Any]:
    """``create_dataset`` options: chunks allocated when the dataset grows, never filled."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return {"dcpl": dcpl, "fill_time": "never"}


class PlacedPlane(NamedTuple):
    """One plane's write: where its bytes are in memory, where they go in the file."""

    address: int
    offset: int
    data: memoryview

    @property
    def aligned(self) -> bool:
        return all(n % ALIGN == 0 for n in (self.address, self.offset, len(self.data)))


class PlanesByWay(NamedTuple):
    """Planes written so far each way; the field names key metadata.json's
    ``saver.planes_written``."""

    direct: int  # O_DIRECT, on a disk
    mapped: int  # through a mapping on 2 MiB pages, on a tmpfs (``mapped_fill.py``)
    page_cache: int  # write(2) through the page cache


_WAY_WORDS = {"direct": "O_DIRECT", "mapped": "through 2 MiB-page mappings",
              "page_cache": "through the page cache"}  # fmt: skip


def describe_ways(counts: Mapping[str, Any]) -> str | None:
    """How the uncompressed planes went to the files, for the operator (the saver's log,
    ``inspect``): one way by name, several with counts; None when none was counted."""
    used = [(way, n) for way, n in counts.items()
            if way in _WAY_WORDS and isinstance(n, int) and n > 0]  # fmt: skip
    if len(used) == 1:
        return _WAY_WORDS[used[0][0]]
    return ", ".join(f"{n} {_WAY_WORDS[way]}" for way, n in used) or None


class UncompressedPlanes:
    """A chunk writer's uncompressed planes: each chunk file in turn (``open_file``), its
    planes written at the offsets its dataset allocated, counted by way (``by_way``).

    On a disk aligned planes go ``O_DIRECT``. A filesystem that turns down a direct write for
    its alignment (``EINVAL``) gets the rest of that file's planes through the page cache.

    On a tmpfs at ``huge=advise`` planes whose offsets and lengths are whole pages are copied
    through a mapping (``mapped_fill.py``); elsewhere on a tmpfs the kernel's copy into the
    file's pages is the write's whole cost, and one thread does it: the kernel holds the
    file's lock for each write, so a second thread copying another share of the volume into the
    same file only waited, spinning on a core the camera needed.
    On the second development VM (2 cores), 10 s runs at 165 and 170 frames/s alternating, one
    thread against two: 0, 0, 0, 0, 0 and 11 frames dropped against 0, 0, 0, 50, 6 and 136, the
    sink 1.30-1.43 GB/s against 1.17-1.30, the saver's CPU 5.5-5.9 ms a frame against 5.9-6.2
    (on the first VM two threads had measured better; the history says why that did not last).
    ``close_file`` closes the file's descriptors (the caller still fsyncs it, at its publish).
    """

    def __init__(self, folder: str | Path) -> None:
        self._direct = bool(_O_DIRECT) and not is_tmpfs(folder)
        self._mapped = MappedFill() if maps_huge_pages(folder) else None
        self._name = ""
        self._fd = -1
        self._direct_fd: int | None = None
        self._direct_planes = 0
        self._mapped_planes = 0
        self._page_cache_planes = 0

    @property
    def by_way(self) -> PlanesByWay:
        return PlanesByWay(self._direct_planes, self._mapped_planes, self._page_cache_planes)

    def open_file(self, path: Path) -> None:
        """Planes go to ``path`` (an open HDF5 file with aligned, preallocated chunks) next."""
        self.close_file()
        self._name = path.name
        # A mapping needs the file open for reading too.
        access = os.O_RDWR if self._mapped else os.O_WRONLY
        self._fd = os.open(path, access | os.O_CLOEXEC)
        if self._direct:
            try:
                self._direct_fd = os.open(path, os.O_WRONLY | _O_DIRECT | os.O_CLOEXEC)
            except OSError as exc:
                _log.info("%s: no direct I/O here (%s); planes go through the page cache",
                          path.name, exc.strerror)  # fmt: skip

    def write(
        self,
        dataset: h5py.Dataset,
        volume: int,
        planes: Sequence[int],
        images: Sequence[np.ndarray],
    ) -> None:
        """Write each of ``images`` (C-contiguous, the chunk's exact bytes) as ``dataset``'s
        chunk (volume, plane), already allocated. Planes whose chunks lie end to end go to the
        disk in one ``pwritev``: the kernel splits it into requests the disk takes together."""
        self.write_prepared(self.prepare(dataset, volume, planes, images))

    def prepare(
        self,
        dataset: h5py.Dataset,
        volume: int,
        planes: Sequence[int],
        images: Sequence[np.ndarray],
    ) -> list[list[PlacedPlane]]:
        """``write``'s HDF5 part: where each plane goes, in runs of end-to-end planes. The rest,
        ``write_prepared``, calls no HDF5, so it may run on another thread meanwhile."""
        if self._fd < 0:
            raise RuntimeError("no chunk file is open for planes")
        places = [self._place(dataset, (volume, plane, 0, 0), image)
                  for plane, image in zip(planes, images, strict=True)]  # fmt: skip
        return list(_end_to_end(places))

    def write_prepared(self, runs: list[list[PlacedPlane]]) -> None:
        """Write the runs ``prepare`` made, into the file still open; reads the images until it
        returns."""
        for run in runs:
            if self._mapped and self._mapped.fill(self._fd, run[0].offset,
                                                  [place.data for place in run]):  # fmt: skip
                self._mapped_planes += len(run)
            elif all(place.aligned for place in run) and self._write_direct(run):
                self._direct_planes += len(run)
            else:
                self._write_cached(run)
                self._page_cache_planes += len(run)

    def _place(
        self, dataset: h5py.Dataset, coord: tuple[int, ...], image: np.ndarray
    ) -> PlacedPlane:
        info = dataset.id.get_chunk_info_by_coord(coord)
        if info.byte_offset is None or info.size != image.nbytes:
            raise RuntimeError(
                f"{self._name}: chunk {coord} is not allocated for a {image.nbytes}-byte "
                f"plane (offset {info.byte_offset}, size {info.size})"
            )
        address = image.__array_interface__["data"][0]
        return PlacedPlane(address, int(info.byte_offset), image.data.cast("B"))

    def _write_direct(self, run: list[PlacedPlane]) -> bool:
        """Write ``run`` directly; False when this file has no direct I/O, or the filesystem
        turned down its alignment (then no later plane of the file is tried directly)."""
        if self._direct_fd is None:
            return False
        try:
            _write_run(self._direct_fd, run)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _log.info("%s: direct write refused (%s); planes go through the page cache",
                      self._name, exc.strerror)  # fmt: skip
            self._close_direct()
            return False
        return True

    def _write_cached(self, run: list[PlacedPlane]) -> None:
        """Through the page cache, its writeback started at once (on a disk: it is not held
        back to a burst when the kernel's dirty limit is reached)."""
        _write_run(self._fd, run)
        start_writeback(self._fd)

    def close_file(self) -> None:
        """Close the open file's descriptors (before HDF5 closes it). Safe to call twice."""
        self._close_direct()
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def _close_direct(self) -> None:
        if self._direct_fd is not None:
            fd, self._direct_fd = self._direct_fd, None
            os.close(fd)


def _end_to_end(places: list[PlacedPlane]) -> Iterator[list[PlacedPlane]]:
    """The planes in runs whose chunks follow each other in the file, at most ``_IOV_MAX``
    planes a run."""
    run: list[PlacedPlane] = []
    for place in places:
        if run:
            last = run[-1]
            if place.offset != last.offset + len(last.data) or len(run) == _IOV_MAX:
                yield run
                run = []
        run.append(place)
    if run:
        yield run


def _write_run(fd: int, run: list[PlacedPlane]) -> None:
    """``pwritev`` a run of end-to-end planes until every byte is written: a write may be short
    (a signal, a full disk's last blocks), and the next call either writes the rest or raises
    why it cannot."""
    offset = run[0].offset
    pending = [place.data for place in run if len(place.data)]
    while pending:
        written = os.pwritev(fd, pending, offset)
        if written <= 0:
            raise OSError(errno.EIO, f"pwritev wrote nothing at offset {offset}")
        offset += written
        while pending and written >= len(pending[0]):
            written -= len(pending[0])
            pending.pop(0)
        if written:
            pending[0] = pending[0][written:]

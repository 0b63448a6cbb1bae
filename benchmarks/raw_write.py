"""The ceiling: the sink alone, fed from one buffer with no pipeline at all.

The frame is written the ways the saver may write (plain, with each frame's writeback started at
once, ``O_DIRECT``, and on a tmpfs at ``huge=advise`` copied through a mapping); the fastest is
the sink's limit. The fsync counts, so page-cache speed never
passes for disk speed. GB = 1e9 bytes.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.baselines import GB, _base_frame, writable_budget
from lightsheet.runtime.shm import HUGE_PAGE
from lightsheet.storage.durable import start_writeback
from lightsheet.storage.filesystem import is_tmpfs
from lightsheet.storage.mapped_fill import MappedFill

_log = logging.getLogger(__name__)


def _write_all(fd: int, data: memoryview) -> None:
    """os.write may write less than asked (signals, pipes, some filesystems): finish the job."""
    while data:
        written = os.write(fd, data)
        data = data[written:]


RAW_WAYS = ("plain", "writeback", "direct", "mapped")


def raw_disk_gbps(
    folder: Path,
    frame_shape: tuple[int, int] = (2048, 2048),
    seconds: float = 30.0,
    way: str = "plain",
    file_bytes: int | None = None,
) -> dict[str, Any] | None:
    """Write one prepared frame over and over, then fsync; the fsync counts.

    ``way``, each as the saver may write (``throughput.py`` measures them all and the sink's
    limit is the fastest): "plain" ``os.write``, leaving the pages to the kernel, which throttles
    the writer and then writes them in bulk; "writeback", each frame's writeback started at
    once (``durable.start_writeback``), on this VM's disk twice the plain rate; "direct", the
    frame in page-aligned memory written with ``O_DIRECT``, as the saver writes uncompressed
    planes on a disk (``direct_planes.py``); "mapped", copied through a mapping of the file on
    2 MiB pages, as the saver writes them on a tmpfs at ``huge=advise`` (``mapped_fill.py``).
    None when the folder takes no direct I/O, or the kernel no mapped fill.

    With ``file_bytes`` the writes go into one file after another, each fsynced and deleted
    behind the writer once the next opens, as the reapers of ``throughput.py`` and ``soak.py``
    delete the chunks they checked: the write may then last longer than the free space, and the
    sink frees the same pages meanwhile (``_RawFile``).

    Also the writing thread's CPU (user and kernel) per frame: what one frame costs the machine
    when nothing but the write is done, beside what the pipeline's processes spend on it; and
    the slowest ``WINDOW_S`` of the write, for a long one.

    Stops early (with a warning) rather than come within a safe margin of a full disk.
    """
    if way not in RAW_WAYS:
        raise ValueError(f"way must be one of {', '.join(RAW_WAYS)}: {way!r}")
    frame = _frame_in_pages(frame_shape)
    budget = writable_budget(Path(folder))
    if budget < len(frame):
        raise OSError(f"not enough free space in {folder} for the raw disk benchmark")
    limit = budget if file_bytes is None else min(budget, max(file_bytes, len(frame)))
    try:
        raw = _RawFile(Path(folder), way)
    except OSError:
        if way == "direct":
            return None  # the filesystem refuses direct I/O
        raise
    windows = _Windows()
    written = 0
    try:
        start, cpu_start = time.perf_counter(), time.thread_time()
        while time.perf_counter() - start < seconds:
            if raw.written + len(frame) > limit:
                if file_bytes is None:
                    _log.info("raw write benchmark stopped early: %d bytes is all the free "
                              "space it may use in %s", written, folder)  # fmt: skip
                    break
                raw.next_file()
            if not raw.write(frame):
                return None  # the kernel cannot make a mapping's pages in advance
            written += len(frame)
            windows.add(len(frame))
        raw.sync()
        duration, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    finally:
        raw.close()
    frames = max(1, written // len(frame))
    return {"gbps": written / duration / GB, "bytes": written, "seconds": duration,
            "cpu_ms_per_frame": 1e3 * cpu / frames, "files": raw.files,
            "slowest_window_gbps": windows.slowest()}  # fmt: skip


def raw_as_the_pipeline_writes(
    folder: Path, frame_shape: tuple[int, int], seconds: float, chunk_bytes: int
) -> dict[str, Any]:
    """The plain raw write under the sink's rule in ``throughput.py``: on a tmpfs in files of a
    chunk's size, deleted as it goes (``_RawFile`` says how), since the reaper deletes
    lightsheet's checked chunks there (and the sashimi-style baseline's are deleted too); on a
    disk, where the run's chunks are held, in one file. Every contender then writes into the
    same kind of pages: on a VM whose host backs fresh memory on first touch, this one's tmpfs
    took a single 4 GB file at 0.52 GB/s and 2 GB files deleted as it went at 1.8-1.9 GB/s."""
    file_bytes = chunk_bytes if is_tmpfs(Path(folder)) else None
    raw = raw_disk_gbps(folder, frame_shape, seconds, way="plain", file_bytes=file_bytes)
    assert raw is not None  # only the direct way may be impossible
    return raw


WINDOW_S = 5.0


class _Windows:
    """Bytes per ``WINDOW_S`` of a long write: its slowest window, beside its mean."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._bytes = 0
        self._rates: list[float] = []

    def add(self, nbytes: int) -> None:
        self._bytes += nbytes
        now = time.perf_counter()
        if now - self._start >= WINDOW_S:
            self._rates.append(self._bytes / (now - self._start) / GB)
            self._start, self._bytes = now, 0

    def slowest(self) -> float | None:
        return min(self._rates) if self._rates else None


class _RawFile:
    """The raw write's file: one, or one after another, each deleted once the next is open.

    The deletion runs behind the writer on a thread of its own (one file at a time), as the
    pipeline's reaper deletes the chunks it checked on a thread of the benchmark's: on a tmpfs
    freeing a file's pages costs about a third of what writing them did, and a raw write that
    paid it between its writes would pass a slower figure for the sink's limit."""

    def __init__(self, folder: Path, way: str) -> None:
        self._folder, self._way = folder, way
        self._mapped = MappedFill() if way == "mapped" else None
        self.files = 0
        self._deleter = ThreadPoolExecutor(1, "raw-delete")
        self._deleting: Future[None] | None = None
        self._open()

    def _open(self) -> None:
        self._path = self._folder / f"raw-disk-baseline-{os.getpid()}-{self.files}.bin"
        flags = (os.O_RDWR if self._mapped else os.O_WRONLY) | os.O_CREAT | os.O_TRUNC
        flags |= getattr(os, "O_DIRECT", 0) if self._way == "direct" else 0
        try:
            self._fd = os.open(self._path, flags, 0o644)
        except OSError:
            self._path.unlink(missing_ok=True)
            raise
        self.files += 1
        self.written = 0

    def write(self, frame: memoryview) -> bool:
        """False when the mapped way is not possible here (before anything is written)."""
        if self._mapped is None:
            _write_all(self._fd, frame)
        elif not self._mapped.fill(self._fd, self.written, [frame]):
            return False
        self.written += len(frame)
        if self._way == "writeback":
            start_writeback(self._fd)
        return True

    def sync(self) -> None:
        os.fsync(self._fd)

    def next_file(self) -> None:
        self.sync()
        self._close_fd()
        if self._deleting is not None:
            self._deleting.result()  # at most one file waits to be deleted
        self._deleting = self._deleter.submit(self._path.unlink, missing_ok=True)
        self._open()

    def close(self) -> None:
        """Close and delete the last file, once the one before it is deleted."""
        self._close_fd()
        try:
            if self._deleting is not None:
                self._deleting.result()
        finally:
            self._deleter.shutdown(wait=True)
            self._path.unlink(missing_ok=True)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _frame_in_pages(frame_shape: tuple[int, int]) -> memoryview:
    """The camera-like frame in page-aligned memory (a camera's frame slot is), so that every
    way, direct I/O too, writes it from where it is; on 2 MiB pages where the system grants
    them to a process that asks (transparent huge pages ``madvise``), since a direct request
    from 4 KiB pages is held to about 1 MB (``runtime/shm.py``): the disk's limit, not the
    memory's."""
    frame = _base_frame(frame_shape)
    pages = mmap.mmap(-1, frame.nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    with contextlib.suppress(AttributeError, OSError):  # no THP: 4 KiB pages
        pages.madvise(mmap.MADV_HUGEPAGE)
    view = memoryview(pages)
    start = -np.frombuffer(pages, dtype=np.uint8).ctypes.data % HUGE_PAGE
    view = view[start : start + frame.nbytes]
    view[:] = frame.tobytes()
    return view

"""Planes copied into a tmpfs chunk file through a shared mapping of it, on 2 MiB pages.

Why: on a tmpfs the saver's whole cost is the copy into the file's pages. ``write(2)`` makes it
into 4 KiB pages and under the file's lock, so two threads writing one file went no faster than
one: 2.6-2.8 GB/s on the development VM. Copied into a mapping of the file that asks for 2 MiB
pages (``MADV_HUGEPAGE``), the same 8 MB planes went at 10-13 GB/s (a probe rewriting 252 MB
files into freed pages). That needs a tmpfs that gives a mapping such pages (its ``huge=``
option, ``filesystem.tmpfs_maps_huge_pages``); on 4 KiB pages a mapping was slower than
``write(2)`` (2.2 GB/s), so ``direct_planes.UncompressedPlanes`` maps only there.

A mapping may not reach past the file's end, so the file is first extended (``ftruncate``) to
cover the planes. Their chunks lie inside the space HDF5 has allocated, and at close HDF5 sets
the file's length to the end of that space, so it never cuts them. The pages are the file's own
(a tmpfs has no other copy), so the data is where a ``write(2)`` would have put it, for a reader
and after a crash alike.

Room: a mapped page that finds the tmpfs full cannot fail as a write does: the process gets
SIGBUS. So before each copy the tmpfs must have room for all of it and the reserve
(``space.require_room``, which raises ``DiskFull`` as the chunk's own check does). What is left
is another program filling the same tmpfs during the milliseconds of one copy: the saver then
ends by the signal, the supervisor reports it as a crash, and the completed chunks are kept, as
after any crash.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from lightsheet.storage.space import require_room


def copy_mapped(
    fd: int,
    offset: int,
    planes: Sequence[memoryview],
    folder: Path,
    pool: ThreadPoolExecutor | None = None,
) -> None:
    """Copy ``planes``, end to end from ``offset`` of the open file ``fd``, through a mapping
    on 2 MiB pages where the tmpfs gives them; each plane on a thread of ``pool`` if given."""
    length = sum(len(plane) for plane in planes)
    if not length:
        return
    require_room(folder, length, f"copying {len(planes)} plane(s) into {folder.name}")
    end = offset + length
    if os.fstat(fd).st_size < end:
        os.ftruncate(fd, end)
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with mmap.mmap(fd, end - start, offset=start) as mapping:
        with contextlib.suppress(AttributeError, OSError):  # no THP: 4 KiB pages, same bytes
            mapping.madvise(mmap.MADV_HUGEPAGE)
        _copy_all(np.frombuffer(mapping, dtype=np.uint8), offset - start, planes, pool)


def _copy_all(
    target: np.ndarray, at: int, planes: Sequence[memoryview], pool: ThreadPoolExecutor | None
) -> None:
    """Each plane into its place in ``target``, all finished on return (the first error raised
    once no copy still runs), and no view of the mapping left behind, which would keep it
    from closing."""
    jobs = []
    for plane in planes:
        jobs.append((target[at : at + len(plane)], np.frombuffer(plane, dtype=np.uint8)))
        at += len(plane)
    del target
    try:
        if pool is None or len(jobs) == 1:
            for destination, source in jobs:
                np.copyto(destination, source)
            return
        futures = [pool.submit(np.copyto, destination, source) for destination, source in jobs]
        wait(futures)
        for future in futures:
            future.result()
    finally:
        jobs.clear()

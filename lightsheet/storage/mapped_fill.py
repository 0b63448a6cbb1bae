"""Planes copied into a tmpfs file through a mapping of it, on the 2 MiB pages a mapping asks for.

Why: on a tmpfs a write's cost is the kernel's handling of the file's pages more than the copy.
Mounted ``huge=advise`` (how the README asks /dev/shm to be mounted, for the rings' 2 MiB pages),
a tmpfs gives ``write(2)`` its pages 4 KiB at a time, and 2 MiB pages only to a mapping that asks
for them (``MADV_HUGEPAGE``). Probe on the second development VM, 8 s of 8 MiB planes into 256 MB
files deleted behind the writer: ``write(2)`` 1.61-1.75 GB/s for 6.8-7.4 ms of CPU a plane;
through a mapping on 2 MiB pages 3.6-4.2 GB/s for 2.0-2.4 ms, the copy numpy's with the GIL
released. A mapping on 4 KiB pages (a tmpfs at ``huge=never``) took 0.84 GB/s, so only a tmpfs
at ``huge=advise`` is written this way (``maps_huge_pages``); at ``within_size`` or ``always``
``write(2)`` gets large pages itself (6.4 GB/s there) and is kept.

A full tmpfs: a store into a mapped page the tmpfs has no room for raises SIGBUS, which would kill
the process. Each plane's pages are therefore made first (``MADV_POPULATE_WRITE``, Linux 5.14),
which fails with an error instead, reported as ``ENOSPC``: the full disk the saver already handles
(``space.py``). A kernel without it refuses the advice (``EINVAL``), and ``fill`` then returns
False before anything is copied, so the caller writes the plain way.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lightsheet.storage.filesystem import is_tmpfs, mount_options

MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14; Python 3.13 names it
_SHMEM_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/shmem_enabled")


def maps_huge_pages(folder: str | Path) -> bool:
    """Whether files in ``folder`` get 2 MiB pages through a mapping that asks, and 4 KiB pages
    through ``write(2)``: a tmpfs mounted ``huge=advise`` that the kernel does not deny them."""
    if not hasattr(mmap, "MADV_HUGEPAGE") or not is_tmpfs(folder):
        return False
    if "huge=advise" not in mount_options(folder):
        return False
    try:
        return "[deny]" not in _SHMEM_ENABLED.read_text(encoding="ascii")
    except OSError:
        return True  # no such switch: the mount's option decides


class MappedFill:
    """``fill(fd, offset, buffers)`` copies the buffers end to end into the file at ``offset``.
    ``usable`` turns False, for good, once the kernel refuses to make pages in advance."""

    def __init__(self) -> None:
        self.usable = True

    def fill(self, fd: int, offset: int, buffers: Sequence[memoryview]) -> bool:
        """Copy ``buffers`` (each a whole number of pages, ``offset`` on a page) into ``fd``
        (opened for reading and writing), growing the file if they end past it. False, with
        nothing copied, when this way cannot take them; ``OSError(ENOSPC)`` when the
        filesystem has no room for them."""
        page = mmap.ALLOCATIONGRANULARITY
        if not self.usable or offset % page or any(len(b) % page for b in buffers):
            return False
        length = sum(len(b) for b in buffers)
        if not length:
            return True
        if os.fstat(fd).st_size < offset + length:
            os.ftruncate(fd, offset + length)
        with mmap.mmap(fd, length, offset=offset) as mapped:
            mapped.madvise(mmap.MADV_HUGEPAGE)
            target = np.frombuffer(mapped, dtype=np.uint8)
            try:
                at = 0
                for buffer in buffers:
                    if not self._make_pages(mapped, at, len(buffer)):
                        return False  # only ever before the first copy: see _make_pages
                    np.copyto(target[at : at + len(buffer)], np.frombuffer(buffer, np.uint8))
                    at += len(buffer)
            finally:
                del target  # the mapping closes only once no array holds it
        return True

    def _make_pages(self, mapped: mmap.mmap, at: int, length: int) -> bool:
        try:
            mapped.madvise(MADV_POPULATE_WRITE, at, length)
        except OSError as exc:
            if exc.errno == errno.EINVAL and at == 0:
                self.usable = False  # this kernel cannot: say so before anything is copied
                return False
            if exc.errno in (errno.EFAULT, errno.ENOMEM):
                raise OSError(errno.ENOSPC, f"no room for {length} bytes on the tmpfs "
                              f"({os.strerror(exc.errno)} making its pages)") from exc  # fmt: skip
            raise
        return True

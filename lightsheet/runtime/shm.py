"""Named shared-memory blocks `lightsheet-<pid>-<purpose>-<id>`, unlinked by their owner.

The pid in the name is the owner's, so a block whose owner is gone can be recognised and removed
at start-up. Attaching never takes over the owner's cleanup: on Python >= 3.13 it does not track
the block at all; before 3.13 our spawned children share the owner's resource tracker, where a
second registration of the same name changes nothing (unregistering it there would remove the
owner's registration and make the owner's unlink report a KeyError).

Blocks allocated ahead (rings, the preview) ask for 2 MiB pages, which the saver's direct disk
writes need for full-size requests; the system grants them or not (`_advise_huge_pages`), and
`huge_page_share` reads back which it was.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
from collections.abc import Iterator
from multiprocessing import shared_memory
from pathlib import Path

import psutil

PREFIX = "lightsheet"
SHM_DIR = Path("/dev/shm")
_NAME_RE = re.compile(rf"^{PREFIX}-(\d+)-([A-Za-z0-9_]+)-([A-Za-z0-9_]+)$")
_SMAPS_HEADER_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")  # a mapping's first line in smaps
_log = logging.getLogger(__name__)
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14+
HUGE_PAGE = 2 << 20  # bytes: x86-64's transparent huge page


def block_name(purpose: str, ident: str | int, pid: int | None = None) -> str:
    """The name of a block owned by ``pid`` (this process by default)."""
    for part, label in ((purpose, "purpose"), (str(ident), "id")):
        if not re.fullmatch(r"[A-Za-z0-9_]+", part):
            raise ValueError(f"shared-memory {label} {part!r} must be letters, digits or _")
    return f"{PREFIX}-{os.getpid() if pid is None else pid}-{purpose}-{ident}"


def create_block(
    purpose: str, ident: str | int, size: int, allocate: bool = False
) -> shared_memory.SharedMemory:
    """Create a block owned by this process; the caller later releases it with unlink.

    ``allocate`` allocates every page now, by the creator: the first frames through a ring or
    the preview must not pay a page fault (and the kernel's zeroing) per 4 KiB. Such a block
    also asks for huge pages (`_advise_huge_pages`), which the system grants or not.
    """
    shm = shared_memory.SharedMemory(name=block_name(purpose, ident), create=True, size=size)
    with removed_on_failure(shm):  # allocating 640 MB takes long enough for a Ctrl-C to land
        if allocate:
            _advise_huge_pages(shm)  # before the pages exist: the kernel decides their size then
            if not _map_every_page(shm):
                pages = shm.buf  # a kernel without MADV_POPULATE_WRITE: one write per page
                assert pages is not None
                for offset in range(0, size, mmap.PAGESIZE):
                    pages[offset] = 0
    _log.debug("created shared memory %s (%d bytes)", shm.name, size)
    return shm


@contextlib.contextmanager
def removed_on_failure(shm: shared_memory.SharedMemory) -> Iterator[shared_memory.SharedMemory]:
    """Remove a block just created if what builds its owner fails or is interrupted.

    Until its owner object exists nobody would unlink it: Python's resource tracker removed it
    at exit with a "leaked shared_memory objects" warning on stderr (a Ctrl-C during start-up).
    """
    try:
        yield shm
    except BaseException:
        release_block(shm, unlink=True)
        raise


def attach_block(name: str, map_pages: bool = True) -> shared_memory.SharedMemory:
    """Attach to a block owned by another process without taking over its cleanup.

    ``map_pages`` maps every page now (see `_map_every_page`): right for a ring, whose every page
    this process will touch; wrong for a block of which it touches only a share (a worker of the
    processing pool, which would then map the whole stack to work on half of it).
    """
    try:
        shm = shared_memory.SharedMemory(name=name, create=False, track=False)  # type: ignore[call-arg]
    except TypeError:  # Python < 3.13 has no ``track``
        shm = shared_memory.SharedMemory(name=name, create=False)
    if map_pages:
        _map_every_page(shm)
    return shm


def _map_every_page(shm: shared_memory.SharedMemory) -> bool:
    """Map all of the block's pages into this process now (``MADV_POPULATE_WRITE``); False
    where the kernel cannot.

    The creator allocates every page, but each process that attaches still takes a page fault
    the first time it touches each 4 KiB: 0.12 s for a 480 MB volume ring, which the dispatcher
    and the saver paid in a run's first volumes. Attaching happens before a run; the first
    frames then pass at full speed. A kernel without it (before Linux 5.14) keeps faulting.
    """
    mapping = getattr(shm, "_mmap", None)  # the stdlib keeps its mmap here; no public handle
    if mapping is None or shm.size == 0:
        return False
    try:
        mapping.madvise(MADV_POPULATE_WRITE)
    except OSError as exc:
        _log.debug("shared memory %s: pages not mapped ahead (%s)", shm.name, exc)
        return False
    return True


def _advise_huge_pages(shm: shared_memory.SharedMemory) -> None:
    """Ask for 2 MiB pages (``MADV_HUGEPAGE``) before the block's pages are allocated.

    Why: the saver writes a frame to disk with ``O_DIRECT`` straight from its slot, and the
    disk's request is built from the slot's physically contiguous pieces, at most
    ``max_segments`` of them (254 on the development VM). From 4 KiB pages that is about 1 MB a
    request; from 2 MiB pages the request reaches the disk's own limit (4 MB there), and the
    direct write from a block measured 2.4-2.6 GB/s against 1.8 GB/s. The kernel grants it only
    where /dev/shm is mounted with ``huge=advise`` (or ``within_size``/``always``, which need no
    asking); elsewhere the advice changes nothing, and `huge_page_share` tells which it was.
    """
    mapping = getattr(shm, "_mmap", None)
    if mapping is None or shm.size < HUGE_PAGE:
        return
    try:
        mapping.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError) as exc:  # no MADV_HUGEPAGE, or a kernel without THP
        _log.debug("shared memory %s: no huge pages asked for (%s)", shm.name, exc)


def huge_page_share(name: str, smaps: Path = Path("/proc/self/smaps")) -> float:
    """The share of block ``name`` that this process maps with huge pages (``ShmemPmdMapped``
    over ``Size`` of its mappings in ``smaps``): 0.0 on 4 KiB pages, or when the kernel says
    nothing."""
    size = huge = 0
    ours = False
    suffix = f"{SHM_DIR}/{name}"
    try:
        lines = smaps.read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if _SMAPS_HEADER_RE.match(line):
            ours = line.rstrip().endswith(suffix)
        elif ours and line.startswith(("Size:", "ShmemPmdMapped:")):
            kib = int(line.split()[1])
            if line.startswith("Size:"):
                size += kib
            else:
                huge += kib
    return huge / size if size else 0.0


def release_block(shm: shared_memory.SharedMemory, unlink: bool) -> None:
    """Close the mapping and, for the owner, remove the block. Safe to call twice."""
    try:
        shm.close()
    except BufferError:
        # A numpy view still points into the mapping; the OS frees it when the process exits.
        _log.debug("shared memory %s still has views; left mapped", shm.name)
    if unlink:
        with contextlib.suppress(FileNotFoundError):  # already gone: nothing to remove
            shm.unlink()
            _log.debug("unlinked shared memory %s", shm.name)


def owner_pid(name: str) -> int | None:
    """The owner's pid encoded in a block name, or None if the name is not ours."""
    match = _NAME_RE.match(name)
    return int(match.group(1)) if match else None


def list_blocks() -> list[str]:
    """Names of every ``lightsheet-*`` block present on this machine."""
    if not SHM_DIR.is_dir():
        return []
    return sorted(p.name for p in SHM_DIR.glob(f"{PREFIX}-*"))


def remove_stale_blocks(logger: logging.Logger | None = None) -> list[str]:
    """Unlink blocks whose owner process no longer runs; return their names."""
    log = logger or _log
    removed = []
    for name in list_blocks():
        pid = owner_pid(name)
        if pid is None or psutil.pid_exists(pid):
            continue
        try:
            (SHM_DIR / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not remove stale shared memory %s: %s", name, exc)
            continue
        removed.append(name)
        log.warning("removed stale shared memory %s left by dead process %d", name, pid)
    return removed

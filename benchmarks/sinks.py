"""Where benchmarks write: a tmpfs (RAM) folder or a disk folder, and how much they may put there.

A tmpfs is memory: on a 24 GB machine shared with other work, a benchmark may hold at most
``TMPFS_CAP_BYTES`` (and never more than a quarter of the memory available) there at once, so
it never pushes other processes into swap or the OOM killer. A disk folder keeps a safe margin
free (``baselines.writable_budget``). Folders are named ``bench-lightsheet-*``: a name starting
with ``lightsheet-`` in /dev/shm would look like one of the session's shared-memory blocks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psutil

from lightsheet.runtime.shm import HUGE_PAGE, create_block, huge_page_share, release_block
from lightsheet.storage.filesystem import filesystem_type, is_tmpfs

TMPFS_ROOT = Path("/dev/shm")
TMPFS_CAP_BYTES = 4 * 10**9
SINKS = ("tmpfs", "disk")
FOLDER_PREFIX = "bench-lightsheet-"


def tmpfs_cap(path: Path) -> int | None:
    """Bytes a benchmark may hold on `path` at once when it is RAM, else None (no cap)."""
    if not is_tmpfs(path):
        return None
    return min(TMPFS_CAP_BYTES, psutil.virtual_memory().available // 4)


def make_sink_folder(sink: str, disk_parent: Path) -> Path:
    """A new, empty folder on the sink: /dev/shm for tmpfs, under `disk_parent` for disk."""
    if sink not in SINKS:
        raise ValueError(f"sink must be one of {', '.join(SINKS)}: {sink!r}")
    parent = TMPFS_ROOT if sink == "tmpfs" else Path(disk_parent)
    if sink == "tmpfs" and not is_tmpfs(parent):
        raise OSError(f"{parent} is not a tmpfs on this machine")
    if sink == "disk" and is_tmpfs(parent):
        raise OSError(f"{parent} is a tmpfs: give a folder on a disk with --out")
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=parent))


def remove_sink_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def describe(folder: Path) -> str:
    """e.g. "/dev/shm/bench-lightsheet-x (tmpfs)", for the header of a report."""
    return f"{folder} ({filesystem_type(folder)}, {os.statvfs(folder).f_bsize} B blocks)"


def ring_huge_page_share() -> float:
    """The share of a new ring-like block (allocated as a ring's is) that got 2 MiB pages: 0.0
    unless /dev/shm is mounted with ``huge=``; the pipeline's direct disk writes depend on it
    (``runtime/shm.py``)."""
    block = create_block("benchpages", os.getpid(), 4 * HUGE_PAGE, allocate=True)
    try:
        return huge_page_share(block.name)
    finally:
        release_block(block, unlink=True)

"""Free space: a run never starts or goes on writing a chunk that the disk cannot hold.

The saver checks before every chunk file that the disk has room for the whole chunk plus a
reserve, so the run stops cleanly while there is still room for what a stop must write: the
dataset index, metadata.json and the last log lines. Writing into a full disk anyway (another
program filled it) is the same failure, said the same way.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MB = 1024 * 1024
RESERVE_BYTES = 16 * MB  # the index, metadata.json and logs of a run that has to stop


class DiskFull(Exception):
    """No room left for what must be written; the message says how much is free where."""


def free_bytes(path: str | Path) -> int:
    """Free bytes (for this user) on the file system that holds ``path`` or its nearest parent."""
    return int(shutil.disk_usage(_existing(Path(path))).free)


def mount_point(path: str | Path) -> Path:
    folder = _existing(Path(path)).resolve()
    while not os.path.ismount(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def require_room(path: str | Path, need_bytes: int, what: str) -> None:
    """Raise DiskFull unless ``what`` (``need_bytes``) fits with the reserve left over."""
    free = free_bytes(path)
    if free < need_bytes + RESERVE_BYTES:
        raise DiskFull(
            f"disk full ({free / MB:.0f} MB free on {mount_point(path)}; {what} needs "
            f"{need_bytes / MB:.0f} MB and {RESERVE_BYTES // MB} MB are kept in reserve)"
        )


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_while(path: str | Path, exc: BaseException, what: str) -> DiskFull:
    free = free_bytes(path)
    return DiskFull(f"disk full ({free / MB:.0f} MB free on {mount_point(path)}) while {what}")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path

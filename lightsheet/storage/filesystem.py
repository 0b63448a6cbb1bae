"""What kind of filesystem a path is on: a RAM one (tmpfs) is written differently from a disk.

On a tmpfs the page cache is the file, so a write into it is the whole cost, and direct I/O,
which the kernel accepts there, measured four times slower than a plain write
(``direct_planes.py``). Linux only: elsewhere the type is "unknown" and the disk's way is used.
"""

from __future__ import annotations

from pathlib import Path

RAM_FILESYSTEMS = ("tmpfs", "ramfs")


def filesystem_type(path: str | Path, mounts: str | None = None) -> str:
    """The type of the filesystem ``path`` is on: the longest mount point that contains it, and
    of two mounts on one folder the later, which hides the earlier (``mounts``: the text of
    /proc/mounts, read when not given)."""
    path = Path(path).resolve()
    best, kind = "", "unknown"
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8")
        except OSError:
            return kind
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = path == Path(mount) or Path(mount) in path.parents
        if inside and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


def is_tmpfs(path: str | Path) -> bool:
    """Whether ``path`` is on a filesystem held in RAM."""
    return filesystem_type(path) in RAM_FILESYSTEMS

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
    entry = _mount_entry(path, mounts)
    return entry[2] if entry else "unknown"


def mount_options(path: str | Path, mounts: str | None = None) -> tuple[str, ...]:
    """The options of the mount ``path`` is on (``huge=advise``, ``rw``, ...); none when unknown."""
    entry = _mount_entry(path, mounts)
    return tuple(entry[3].split(",")) if entry and len(entry) > 3 else ()


def is_tmpfs(path: str | Path) -> bool:
    """Whether ``path`` is on a filesystem held in RAM."""
    return filesystem_type(path) in RAM_FILESYSTEMS


def _mount_entry(path: str | Path, mounts: str | None) -> list[str] | None:
    """The /proc/mounts line (split) of the mount ``path`` is on, or None."""
    path = Path(path).resolve()
    best: list[str] | None = None
    longest = -1
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8")
        except OSError:
            return None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = path == Path(mount) or Path(mount) in path.parents
        if inside and len(mount) >= longest:
            best, longest = parts, len(mount)
    return best

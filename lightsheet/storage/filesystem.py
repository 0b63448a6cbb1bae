"""What kind of filesystem a path is on: a RAM one (tmpfs) is written differently from a disk.

On a tmpfs the page cache is the file, so a write into it is the whole cost, and direct I/O,
which the kernel accepts there, measured four times slower than a plain write
(``direct_planes.py``). Where the tmpfs gives 2 MiB pages to a mapping that asks (its ``huge=``
option), copying a plane into a mapping of the file costs a quarter of ``write(2)``'s copy
(``mapped_planes.py``). Linux only: elsewhere the type is "unknown" and the disk's way is used.
"""

from __future__ import annotations

from pathlib import Path

RAM_FILESYSTEMS = ("tmpfs", "ramfs")
SHMEM_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
# tmpfs huge= values that give a mapping asking for them (MADV_HUGEPAGE) 2 MiB pages
HUGE_FOR_MAPPINGS = ("always", "within_size", "advise")


def mount_of(path: str | Path, mounts: str | None = None) -> tuple[str, str]:
    """(type, options) of the filesystem ``path`` is on: the longest mount point that contains
    it, and of two mounts on one folder the later, which hides the earlier (``mounts``: the
    text of /proc/mounts, read when not given)."""
    path = Path(path).resolve()
    best, found = "", ("unknown", "")
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8")
        except OSError:
            return found
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = path == Path(mount) or Path(mount) in path.parents
        if inside and len(mount) >= len(best):
            best, found = mount, (parts[2], parts[3])
    return found


def filesystem_type(path: str | Path) -> str:
    """The type of the filesystem ``path`` is on (the longest mount point that contains it)."""
    return mount_of(path)[0]


def is_tmpfs(path: str | Path) -> bool:
    """Whether ``path`` is on a filesystem held in RAM."""
    return filesystem_type(path) in RAM_FILESYSTEMS


def tmpfs_maps_huge_pages(path: str | Path) -> bool:
    """Whether ``path`` is on a tmpfs that gives a mapping asking for them 2 MiB pages."""
    kind, options = mount_of(path)
    if kind != "tmpfs":
        return False
    try:
        system = SHMEM_ENABLED.read_text(encoding="utf-8")
    except OSError:
        system = ""
    return huge_pages_for_mappings(options, system)


def huge_pages_for_mappings(options: str, shmem_enabled: str) -> bool:
    """From a tmpfs's mount options ("rw,huge=advise") and the system's ``shmem_enabled``
    ("always within_size advise [never] deny force"): the system's ``deny`` refuses every tmpfs
    and its ``force`` grants every one; otherwise the mount's ``huge=`` decides."""
    chosen = next((word[1:-1] for word in shmem_enabled.split() if word.startswith("[")), "")
    if chosen in ("deny", "force"):
        return chosen == "force"
    huge = next((o.split("=", 1)[1] for o in options.split(",") if o.startswith("huge=")), "")
    return huge in HUGE_FOR_MAPPINGS

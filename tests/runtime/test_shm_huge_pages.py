"""Rings and the preview ask for 2 MiB pages, and the share they got is read back truthfully.

The saver writes frames to disk with ``O_DIRECT`` straight from their ring slots; from 4 KiB
pages a disk request holds about 1 MB, from 2 MiB pages 4 MB (``runtime/shm.py``). Whether the
kernel grants them is the system's choice (/dev/shm's ``huge=`` mount option), so the tests
check the asking on any kernel with transparent huge pages, and the reported share against what
this machine's mount allows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lightsheet.runtime.shm import HUGE_PAGE, create_block, huge_page_share, release_block

THP = Path("/sys/kernel/mm/transparent_hugepage")


def _vm_flags(name: str) -> set[str]:
    """The VmFlags of this process's mapping of block ``name``."""
    mine = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):  # a mapping's first line
            mine = line.rstrip().endswith(f"/dev/shm/{name}")
        elif mine and line.startswith("VmFlags:"):
            return set(line.split()[1:])
    raise AssertionError(f"no mapping of {name} in /proc/self/smaps")


def _shm_huge_option() -> str:
    """/dev/shm's ``huge=`` mount option ("never" when not given). Where mounts are stacked on
    /dev/shm (a container's, then the host's remount), the last one listed is the one in use."""
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    shm = [parts for parts in mounts if len(parts) >= 4 and parts[1] == "/dev/shm"]
    if not shm:
        pytest.skip("no /dev/shm mount")
    options = dict(o.split("=", 1) for o in shm[-1][3].split(",") if "=" in o)
    return options.get("huge", "never")


@pytest.mark.skipif(not THP.is_dir(), reason="kernel without transparent huge pages")
def test_an_allocated_block_asks_for_huge_pages() -> None:
    block = create_block("thuge", "asks", 4 * HUGE_PAGE, allocate=True)
    try:
        assert "hg" in _vm_flags(block.name)  # VM_HUGEPAGE: MADV_HUGEPAGE was given
    finally:
        release_block(block, unlink=True)


def test_a_block_not_allocated_ahead_does_not_ask() -> None:
    """Results and job blocks are touched in part; only rings and the preview ask."""
    block = create_block("thuge", "plain", 4 * HUGE_PAGE)
    try:
        assert "hg" not in _vm_flags(block.name)
    finally:
        release_block(block, unlink=True)


def test_the_share_reported_is_what_the_mount_allows() -> None:
    option = _shm_huge_option()
    block = create_block("thuge", "share", 8 * HUGE_PAGE, allocate=True)
    try:
        share = huge_page_share(block.name)
    finally:
        release_block(block, unlink=True)
    if option in ("never", "deny"):
        assert share == 0.0
    else:  # advise, within_size, always: granted unless memory is too fragmented
        assert 0.0 < share <= 1.0


_SMAPS = """\
7f3eb7e00000-7f3ebbe00000 rw-s 00000000 00:1b 79787                      /dev/shm/{name}
Size:              65536 kB
KernelPageSize:        4 kB
Rss:               65536 kB
AnonHugePages:         0 kB
ShmemPmdMapped:    49152 kB
FilePmdMapped:         0 kB
THPeligible:           1
VmFlags: rd wr sh mr mw me ms hg
7f3ebbe00000-7f3ebfe00000 rw-s 00000000 00:1b 79788                      /dev/shm/{name}0
Size:              65536 kB
ShmemPmdMapped:    65536 kB
VmFlags: rd wr sh mr mw me ms hg
7f3ec0000000-7f3ec0800000 rw-s 00000000 00:1b 79787                      /dev/shm/{name}
Size:               8192 kB
ShmemPmdMapped:        0 kB
VmFlags: rd wr sh mr mw me ms
7f3ec0800000-7f3ec0a00000 rw-p 00000000 00:00 0
Size:               2048 kB
AnonHugePages:      2048 kB
VmFlags: rd wr mr mw me ac hg
"""


def test_the_share_counts_every_mapping_of_the_block_and_no_other(tmp_path: Path) -> None:
    """Two mappings of the block (48 of 64 MiB, then 0 of 8 MiB on huge pages); a block whose
    name only starts like it, and anonymous memory on huge pages, do not count."""
    name = "lightsheet-1-frames-ab"
    smaps = tmp_path / "smaps"
    smaps.write_text(_SMAPS.format(name=name))
    assert huge_page_share(name, smaps) == pytest.approx(49152 / (65536 + 8192))
    assert huge_page_share("lightsheet-1-frames-zz", smaps) == 0.0
    assert huge_page_share(name, tmp_path / "missing") == 0.0

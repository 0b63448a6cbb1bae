"""Planes copied into a tmpfs file through a mapping land where ``write(2)`` would put them, a
gap stays zeros, and a tmpfs without room refuses the copy before any byte (a mapped page
that finds no room would kill the saver by SIGBUS instead of raising)."""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from lightsheet.storage import ChunkWriter, space
from lightsheet.storage import direct_planes as direct_module
from lightsheet.storage.filesystem import huge_pages_for_mappings, is_tmpfs, mount_of
from lightsheet.storage.mapped_planes import copy_mapped
from lightsheet.storage.space import DiskFull
from tests.storage.test_direct_planes import in_pages, table, volume
from tests.storage.test_storage_chunks import read_all

SHAPE = (3, 64, 64)


@pytest.fixture
def tmpfs_folder():
    if not Path("/dev/shm").is_dir() or not is_tmpfs("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="test-mapped-planes-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def planes(count: int, nbytes: int) -> list[memoryview]:
    rng = np.random.default_rng(count)
    return [memoryview(rng.integers(0, 256, nbytes, dtype=np.uint8)) for _ in range(count)]


@pytest.mark.parametrize("offset", [3 * 4096, 3 * 4096 + 100], ids=["page", "mid-page"])
@pytest.mark.parametrize("threads", [0, 2])
def test_mapped_planes_land_end_to_end_at_their_offset_and_nothing_else_moves(
    tmpfs_folder, offset, threads
):
    path = tmpfs_folder / "f"
    before = os.urandom(offset)
    path.write_bytes(before)
    data = planes(3, 10_000)
    fd = os.open(path, os.O_RDWR)
    pool = ThreadPoolExecutor(threads) if threads else None
    try:
        copy_mapped(fd, offset, data, tmpfs_folder, pool)
    finally:
        os.close(fd)
        if pool is not None:
            pool.shutdown()
    written = path.read_bytes()
    assert written[:offset] == before
    assert written[offset:] == b"".join(bytes(d) for d in data)  # extended to exactly the end


def test_a_mapped_copy_the_tmpfs_has_no_room_for_is_refused_before_any_byte(
    tmpfs_folder, monkeypatch
):
    path = tmpfs_folder / "f"
    path.write_bytes(b"x" * 4096)
    monkeypatch.setattr(space, "free_bytes", lambda where: space.RESERVE_BYTES + 10_000)
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(DiskFull, match="disk full"):
            copy_mapped(fd, 4096, planes(2, 8_000), tmpfs_folder)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"x" * 4096


def test_a_run_mapped_into_a_tmpfs_reads_back_with_its_gaps_as_zeros(tmpfs_folder, monkeypatch):
    monkeypatch.setattr(direct_module, "tmpfs_maps_huge_pages", lambda path: True)
    run = tmpfs_folder / "run"
    with ChunkWriter(run, SHAPE, np.uint16, 2) as writer:
        writer.write_volume(in_pages(volume(0, SHAPE)), table(3, missing=(1,)))
        for index in (1, 2):
            writer.write_volume(volume(index, SHAPE), table(3))  # not page-aligned: no matter
    assert writer.planes_by_way == (0, 0, 8)
    expected = np.stack([volume(index, SHAPE) for index in range(3)])
    expected[0, 1] = 0
    np.testing.assert_array_equal(read_all(run), expected)


@pytest.mark.parametrize(
    ("options", "system", "granted"),
    [
        ("rw,nosuid,nodev,huge=advise", "always within_size advise [never] deny force", True),
        ("rw,huge=within_size,size=100k", "[never]", True),
        ("rw,huge=always", "", True),
        ("rw,relatime,size=24684084k", "always within_size advise [never] deny force", False),
        ("rw,huge=never", "never", False),
        ("rw,huge=advise", "always within_size advise never [deny] force", False),
        ("rw,relatime", "always within_size advise never deny [force]", True),
    ],
)
def test_a_tmpfs_maps_huge_pages_by_its_huge_option_unless_the_system_overrides(
    options, system, granted
):
    assert huge_pages_for_mappings(options, system) is granted


def test_of_two_mounts_on_one_folder_the_later_one_is_what_a_path_is_on():
    """/dev/shm mounted twice (a container's own over the host's): only the later is seen."""
    mounts = (
        "tmpfs /dev/shm tmpfs rw,relatime,size=100k 0 0\n"
        "/dev/vda / ext4 rw,relatime 0 0\n"
        "tmpfs /dev/shm tmpfs rw,relatime,size=100k,huge=advise 0 0\n"
    )
    assert mount_of("/dev/shm/run/chunks", mounts) == ("tmpfs", "rw,relatime,size=100k,huge=advise")
    assert mount_of("/work/run", mounts) == ("ext4", "rw,relatime")

"""Planes copied into a tmpfs file through a mapping: the bytes land where asked, a full tmpfs is
an error (not SIGBUS), and a kernel that cannot make pages in advance leaves the plain write."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lightsheet.storage import mapped_fill
from lightsheet.storage.filesystem import is_tmpfs
from lightsheet.storage.mapped_fill import MappedFill, maps_huge_pages
from tests.small_tmpfs import shm_folder, small_tmpfs

PAGE = 4096


@pytest.fixture
def shm() -> Iterator[Path]:
    with shm_folder("test-mapped-fill-") as folder:
        yield folder


@pytest.fixture
def small_advise_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted huge=advise, as the README asks /dev/shm to be."""
    with small_tmpfs(tmp_path / "small", "size=1m,huge=advise") as mount:
        yield mount


def planes(count: int, pages: int, seed: int = 0) -> list[memoryview]:
    rng = np.random.default_rng(seed)
    return [memoryview(rng.integers(0, 256, pages * PAGE, dtype=np.uint8)) for _ in range(count)]


def test_planes_land_end_to_end_at_the_offset_and_grow_the_file(shm: Path) -> None:
    path = shm / "chunk"
    head = b"h" * (3 * PAGE)  # what HDF5 wrote before: left as it was
    path.write_bytes(head)
    data = planes(3, 5)
    fd = os.open(path, os.O_RDWR)
    try:
        assert MappedFill().fill(fd, 2 * PAGE, data)
    finally:
        os.close(fd)
    content = path.read_bytes()
    assert len(content) == 2 * PAGE + 15 * PAGE
    assert content[: 2 * PAGE] == head[: 2 * PAGE]
    assert content[2 * PAGE :] == b"".join(bytes(plane) for plane in data)


def test_what_is_not_whole_pages_is_left_to_the_plain_write(shm: Path) -> None:
    path = shm / "chunk"
    path.touch()
    fd = os.open(path, os.O_RDWR)
    try:
        fill = MappedFill()
        assert not fill.fill(fd, 100, planes(1, 1))
        assert not fill.fill(fd, 0, [memoryview(bytes(PAGE + 70))])
        assert fill.usable
    finally:
        os.close(fd)
    assert path.stat().st_size == 0


def test_a_full_tmpfs_is_an_error_not_a_killed_process(small_advise_tmpfs: Path) -> None:
    """A store into a page the tmpfs has no room for would raise SIGBUS and kill the saver."""
    assert maps_huge_pages(small_advise_tmpfs)
    fd = os.open(small_advise_tmpfs / "chunk", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as raised:
            MappedFill().fill(fd, 0, planes(2, 256))  # 2 MiB into 1 MiB
    finally:
        os.close(fd)
    assert raised.value.errno == errno.ENOSPC
    assert "no room for" in str(raised.value)


def test_a_kernel_that_refuses_the_advice_leaves_the_plain_write(
    shm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before Linux 5.14 the kernel answers EINVAL to MADV_POPULATE_WRITE, as it answers any
    advice it does not know: here one it does not know."""
    monkeypatch.setattr(mapped_fill, "MADV_POPULATE_WRITE", 9999)
    fd = os.open(shm / "chunk", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fill = MappedFill()
        assert not fill.fill(fd, 0, planes(1, 2))
        assert not fill.usable
        assert not fill.fill(fd, 0, planes(1, 2))  # for good: not asked again
    finally:
        os.close(fd)


def test_only_a_tmpfs_at_huge_advise_is_written_through_a_mapping(
    tmp_path: Path, small_advise_tmpfs: Path
) -> None:
    assert maps_huge_pages(small_advise_tmpfs)
    subprocess.run(["mount", "-o", "remount,huge=never", str(small_advise_tmpfs)], check=True)
    assert not maps_huge_pages(small_advise_tmpfs)  # write(2) is faster than 4 KiB mappings
    if not is_tmpfs(tmp_path):
        assert not maps_huge_pages(tmp_path)  # a disk: its own ways (direct_planes.py)

"""Uncompressed planes written where HDF5 allocated them: directly on a disk, through the page
cache on a tmpfs or when not aligned, and the file reads back the same either way."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.storage import FRAMES_DTYPE, ChunkWriter
from lightsheet.storage import direct_planes as direct_module
from lightsheet.storage.direct_planes import (
    UncompressedPlanes,
    aligned_file_options,
    preallocated_dataset_options,
)
from lightsheet.storage.filesystem import is_tmpfs
from tests.small_tmpfs import shm_folder
from tests.storage.test_storage_chunks import read_all

ALIGNED = (3, 64, 64)  # 8 KiB planes: two pages each
ODD = (3, 5, 7)  # 70-byte planes: no plane can be written directly


def volume(index: int, shape: tuple[int, int, int]) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 65536, shape, dtype=np.uint16)


def in_pages(array: np.ndarray) -> np.ndarray:
    """``array`` copied into page-aligned memory, as a camera's shared-memory frame slot is."""
    pages = mmap.mmap(-1, max(array.nbytes, 1))
    aligned = np.frombuffer(pages, array.dtype, count=array.size).reshape(array.shape)
    aligned[...] = array
    return aligned


def table(planes: int, missing: tuple[int, ...] = ()) -> np.ndarray:
    rows = np.zeros(planes, dtype=FRAMES_DTYPE)
    rows["plane"] = np.arange(planes)
    rows["present"] = True
    for plane in missing:
        rows["present"][plane] = False
        rows["frame_id"][plane] = -1
    return rows


def write_run(
    run_dir: Path, shape: tuple[int, int, int], count: int, paged: bool = True
) -> tuple[int, int, int]:
    """Write ``count`` volumes (in page-aligned memory unless not ``paged``); the planes
    written directly, through a mapping and through the page cache."""
    with ChunkWriter(run_dir, shape, np.uint16, 2) as writer:
        for index in range(count):
            planes = volume(index, shape)
            writer.write_volume(in_pages(planes) if paged else planes, table(shape[0]))
    return writer.planes_by_way


def direct_io_works(folder: Path) -> bool:
    probe = folder / "probe"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_WRONLY | getattr(os, "O_DIRECT", 0)))
    except OSError:
        return False
    finally:
        probe.unlink()
    return hasattr(os, "O_DIRECT") and not is_tmpfs(folder)


@pytest.fixture
def disk_run(tmp_path: Path) -> Path:
    if not direct_io_works(tmp_path):
        pytest.skip(f"{tmp_path} takes no direct I/O (a tmpfs, or not Linux)")
    return tmp_path / "run"


@pytest.fixture
def tmpfs_run():
    with shm_folder("test-direct-planes-") as folder:
        yield folder / "run"


@pytest.mark.parametrize(
    ("run", "shape", "paged", "ways"),
    [
        ("disk_run", ALIGNED, True, (6, 0, 0)),  # aligned planes from pages: directly
        ("disk_run", ODD, True, (0, 0, 6)),  # a plane's length cannot be aligned
        ("disk_run", ALIGNED, False, (0, 0, 6)),  # planes in memory that is not page-aligned
        ("tmpfs_run", ALIGNED, True, (0, 0, 6)),  # a tmpfs: the page cache is the file
        ("tmpfs_run", ALIGNED, True, (0, 6, 0)),  # ... mounted huge=advise: through a mapping
        ("tmpfs_run", ODD, True, (0, 0, 6)),  # ... but not a plane of part of a page
    ],
    ids=["disk", "odd-planes", "unaligned-memory", "tmpfs", "tmpfs-advise", "tmpfs-odd"],
)
def test_planes_read_back_whichever_way_they_were_written(
    request, monkeypatch, run, shape, paged, ways
):
    folder = request.getfixturevalue(run)
    # Whether /dev/shm is mounted huge=advise is this machine's choice: each case says which.
    # On 4 KiB pages the mapping is slower, not different.
    advise = ways[1] > 0 or (run == "tmpfs_run" and shape == ODD)
    monkeypatch.setattr(direct_module, "maps_huge_pages", lambda _folder: advise)
    assert write_run(folder, shape, 2, paged) == ways
    expected = np.stack([volume(index, shape) for index in range(2)])
    np.testing.assert_array_equal(read_all(folder), expected)


def test_a_gap_is_never_written_and_reads_as_zeros(disk_run):
    with ChunkWriter(disk_run, ALIGNED, np.uint16, 1) as writer:
        writer.write_volume(in_pages(volume(0, ALIGNED)), table(3, missing=(1,)))
    assert writer.planes_by_way == (2, 0, 0)
    expected = volume(0, ALIGNED)
    expected[1] = 0
    np.testing.assert_array_equal(read_all(disk_run)[0], expected)


def test_a_refused_direct_write_is_written_through_the_page_cache(disk_run, monkeypatch):
    """A filesystem whose direct I/O wants another alignment answers EINVAL: the volume is
    written all the same, and the file's later planes skip the direct way."""
    real = os.pwritev
    refused: list[int] = []

    def pickier(fd, buffers, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, buffers, offset)

    monkeypatch.setattr(direct_module.os, "pwritev", pickier)
    assert write_run(disk_run, ALIGNED, 3) == (0, 0, 9)
    assert len(refused) == 2  # once per chunk file, then that file's planes skip it
    expected = np.stack([volume(index, ALIGNED) for index in range(3)])
    np.testing.assert_array_equal(read_all(disk_run), expected)


def test_a_chunk_not_allocated_for_the_plane_is_refused(tmp_path):
    """Writing outside HDF5 is safe only where HDF5 allocated exactly that plane's bytes."""
    path = tmp_path / "c.h5"
    with h5py.File(path, "w", **aligned_file_options()) as file:
        data = file.create_dataset("d", shape=(0, 2, 64, 64), maxshape=(None, 2, 64, 64),
                                   dtype=np.uint16, chunks=(1, 1, 64, 64),
                                   **preallocated_dataset_options())  # fmt: skip
        data.resize(1, axis=0)
        out = UncompressedPlanes(tmp_path)
        out.open_file(path)
        try:
            with pytest.raises(RuntimeError, match="not allocated for a 4096-byte plane"):
                out.write(data, 0, [0], [np.zeros((32, 64), np.uint16)])
            out.write(data, 0, [0, 1], list(in_pages(volume(0, (2, 64, 64)))))
        finally:
            out.close_file()
            out.close_file()  # twice is harmless
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(file["d"][0], volume(0, (2, 64, 64)))


def test_a_short_write_is_completed(tmp_path, monkeypatch):
    """pwritev may write less than asked (a signal); the rest follows at the right offset."""
    real = os.pwritev

    def short(fd, buffers, offset):
        first = buffers[0]
        return real(fd, [first[: max(1, len(first) // 3)]], offset)

    monkeypatch.setattr(direct_module.os, "pwritev", short)
    assert write_run(tmp_path / "run", ODD, 2) == (0, 0, 6)
    expected = np.stack([volume(index, ODD) for index in range(2)])
    np.testing.assert_array_equal(read_all(tmp_path / "run"), expected)



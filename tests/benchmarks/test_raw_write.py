"""The raw write the benchmarks compare against: one file, or one after another for a long soak."""

from __future__ import annotations

from benchmarks.raw_write import raw_disk_gbps
from tests.small_tmpfs import shm_folder

SHAPE = (64, 64)
FRAME = SHAPE[0] * SHAPE[1] * 2


def test_a_rotating_raw_write_deletes_each_file_and_counts_every_byte(tmp_path):
    result = raw_disk_gbps(tmp_path, SHAPE, seconds=0.3, way="plain", file_bytes=3 * FRAME)
    assert result is not None
    assert result["files"] == -(-result["bytes"] // (3 * FRAME))  # a new file every 3 frames
    assert result["files"] >= 2
    assert list(tmp_path.iterdir()) == []


def test_a_single_raw_write_stays_in_one_file_and_leaves_nothing(tmp_path):
    result = raw_disk_gbps(tmp_path, SHAPE, seconds=0.1, way="writeback")
    assert result is not None
    assert result["files"] == 1 and result["bytes"] % FRAME == 0 and result["bytes"] > 0
    assert list(tmp_path.iterdir()) == []


def test_the_mapped_raw_write_fills_files_in_turn_and_leaves_nothing():
    """The way the saver writes on a tmpfs at huge=advise (any tmpfs maps, 2 MiB pages or not)."""
    with shm_folder("test-raw-mapped-") as folder:
        result = raw_disk_gbps(folder, SHAPE, seconds=0.3, way="mapped", file_bytes=3 * FRAME)
        assert result is not None
        assert result["files"] == -(-result["bytes"] // (3 * FRAME)) >= 2
        assert list(folder.iterdir()) == []

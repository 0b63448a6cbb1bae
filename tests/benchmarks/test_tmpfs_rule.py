"""On a tmpfs every contender of ``throughput.py`` writes into pages the sink has freed.

The pipeline's reaper deletes lightsheet's checked chunks on a tmpfs, so its saver writes into
freed pages; a raw write or a baseline that kept all its bytes wrote into fresh memory instead,
which on this VM (its host backs fresh memory on first touch) was four times slower, and the
pipeline then looked three times faster than the sink it writes to.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from benchmarks.pipeline_run import TMPFS_CHUNK_MB, bench_rig, sink_chunk_mb
from benchmarks.raw_write import raw_as_the_pipeline_writes
from benchmarks.sashimi import sashimi_pipeline_gbps
from benchmarks.sinks import TMPFS_ROOT, is_tmpfs

SHAPE = (64, 64)
FRAME = SHAPE[0] * SHAPE[1] * 2

needs_tmpfs = pytest.mark.skipif(
    not (TMPFS_ROOT.is_dir() and is_tmpfs(TMPFS_ROOT)), reason="no /dev/shm tmpfs"
)


@pytest.fixture
def tmpfs_folder():
    with tempfile.TemporaryDirectory(prefix="bench-lightsheet-test-", dir=TMPFS_ROOT) as name:
        yield Path(name)


@needs_tmpfs
def test_the_raw_write_on_a_tmpfs_goes_into_chunk_sized_files_deleted_as_it_goes(tmpfs_folder):
    raw = raw_as_the_pipeline_writes(tmpfs_folder, SHAPE, seconds=0.3, chunk_bytes=3 * FRAME)
    assert raw["files"] >= 2
    assert raw["files"] == -(-raw["bytes"] // (3 * FRAME))
    assert list(tmpfs_folder.iterdir()) == []


def test_the_raw_write_on_a_disk_stays_in_one_file(tmp_path):
    if is_tmpfs(tmp_path):
        pytest.skip("the test's temporary folder is on a tmpfs here")
    raw = raw_as_the_pipeline_writes(tmp_path, SHAPE, seconds=0.1, chunk_bytes=3 * FRAME)
    assert raw["files"] == 1 and raw["bytes"] > 3 * FRAME
    assert list(tmp_path.iterdir()) == []


@needs_tmpfs
def test_the_sashimi_baseline_swept_deletes_each_chunk_once_complete(tmpfs_folder):
    volume = 2 * FRAME
    result = sashimi_pipeline_gbps(
        tmpfs_folder, SHAPE, planes=2, seconds=1.0, sweep=True, chunk_bytes=2 * volume
    )
    assert result["frames"] > 0
    # Every complete chunk file was deleted by the sweeper (a last partial chunk is one too).
    assert result["files_deleted"] >= (result["frames"] // 2) // 2
    assert list(tmpfs_folder.iterdir()) == []


@needs_tmpfs
def test_the_sashimi_baseline_unswept_keeps_its_chunks_to_the_end(tmpfs_folder):
    result = sashimi_pipeline_gbps(
        tmpfs_folder, SHAPE, planes=2, seconds=0.5, chunk_bytes=4 * FRAME
    )
    assert result["frames"] > 0 and result["files_deleted"] == 0
    assert list(tmpfs_folder.iterdir()) == []


@needs_tmpfs
def test_a_benchmark_run_on_a_tmpfs_uses_small_chunks_and_on_a_disk_the_default(
    tmpfs_folder, tmp_path
):
    on_tmpfs = bench_rig(100.0, chunk_ram_mb=sink_chunk_mb(tmpfs_folder)).saving
    default = bench_rig(100.0).saving
    assert on_tmpfs.chunk_ram_mb == TMPFS_CHUNK_MB < default.chunk_ram_mb
    if not is_tmpfs(tmp_path):
        assert bench_rig(100.0, chunk_ram_mb=sink_chunk_mb(tmp_path)).saving == default

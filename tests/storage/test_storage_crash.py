"""A writer killed with SIGKILL leaves whole chunk files, a readable dataset.h5, and at most
``.partial`` files that nothing reads."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.storage import FRAMES_DTYPE, ChunkWriter, open_run, summarize_run, write_metadata
from lightsheet.storage.salvage import salvage_partial_chunks
from lightsheet.storage.virtual import rebuild_dataset
from tests.storage.test_direct_planes import in_pages

SHAPE = (4, 64, 64)
PER_CHUNK = 2
MAX_VOLUMES = 200
WAIT_S = 60


def volume(index: int) -> np.ndarray:
    """In page-aligned memory, as the saver's frame slots are: uncompressed, it is written the
    direct way on a disk (``direct_planes.py``)."""
    return in_pages(np.random.default_rng(index).integers(0, 65536, SHAPE, dtype=np.uint16))


def frames(index: int) -> np.ndarray:
    table = np.zeros(SHAPE[0], dtype=FRAMES_DTYPE)
    table["frame_id"] = index * SHAPE[0] + np.arange(SHAPE[0])
    table["volume"] = index
    table["plane"] = np.arange(SHAPE[0])
    table["present"] = True
    return table


def write_until_killed(
    run_dir: str, compression: str, pause: bool, reached, release, behind: bool, written
) -> None:
    """Child process: writes volumes; signals once a chunk is complete and another one is open.

    With ``pause`` it then waits (so the kill lands between two writes of a chunk); without, it
    keeps writing, so the kill lands anywhere: inside HDF5, a rename or a dataset.h5 rewrite.
    """
    write_metadata(run_dir, {"stop_reason": "running"})
    writer = ChunkWriter(run_dir, SHAPE, np.uint16, PER_CHUNK, compression=compression,
                         publish_behind=behind)  # fmt: skip
    for index in range(MAX_VOLUMES):
        writer.write_volume(volume(index), frames(index))
        written.value = writer.volumes_written
        if writer.chunks_completed >= 1 and writer.volumes_written % PER_CHUNK == 1:
            reached.set()
            if pause:
                release.wait(WAIT_S)
    writer.close()


def kill_the_writer(
    run_dir: Path, compression: str, pause: bool, publish_behind: bool = False
) -> int:
    """SIGKILL a writer child once it completed a chunk; the volumes whose write had returned."""
    context = multiprocessing.get_context("spawn")
    reached, release = context.Event(), context.Event()
    written = context.Value("q", 0)
    child = context.Process(
        target=write_until_killed,
        args=(str(run_dir), compression, pause, reached, release, publish_behind, written),
    )
    child.start()
    try:
        assert reached.wait(WAIT_S), "the writer never completed a chunk"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(WAIT_S)
        if child.is_alive():
            child.kill()
            child.join(WAIT_S)
    assert child.exitcode == -signal.SIGKILL
    return int(written.value)


def check_whole(run_dir: Path, complete_only: bool = True) -> int:
    """Asserts every chunk under a final name and dataset.h5 hold exactly what was written."""
    for path in sorted((run_dir / "chunks").glob("chunk-*.h5")):
        with h5py.File(path, "r") as chunk:
            first, count = int(chunk.attrs["first_volume"]), int(chunk.attrs["volumes"])
            assert chunk["data"].shape[0] == count
            assert count == PER_CHUNK or not complete_only
            for offset in range(count):
                np.testing.assert_array_equal(chunk["data"][offset], volume(first + offset))
            np.testing.assert_array_equal(
                chunk["frames"]["frame_id"],
                np.concatenate([frames(first + i)["frame_id"] for i in range(count)]),
            )
    data = open_run(run_dir)
    try:
        for index in range(data.shape[0]):
            np.testing.assert_array_equal(data[index], volume(index))
        sources = {Path(source.file_name).name for source in data.virtual_sources()}
        assert not any(name.endswith(".partial") for name in sources)
        return data.shape[0]
    finally:
        data.file.close()


@pytest.mark.parametrize("compression", ["none", "blosc-zstd"])
@pytest.mark.parametrize("pause", [True, False], ids=["paused-mid-chunk", "running"])
def test_sigkill_leaves_complete_chunks_readable_and_the_partial_ignored(
    tmp_path, compression, pause
):
    kill_the_writer(tmp_path, compression, pause)
    saved = check_whole(tmp_path)
    assert saved >= PER_CHUNK
    summary = summarize_run(tmp_path)
    assert summary.volumes_saved == saved
    assert summary.stop_reason == "running"
    finals = summary.chunk_files
    # dataset.h5 lags the chunk files by at most the one published just before the kill
    assert saved in (PER_CHUNK * len(finals), PER_CHUNK * (len(finals) - 1))
    for partial in summary.partial_files:
        assert Path(partial).name.removesuffix(".partial") not in finals
    if pause:
        assert saved == PER_CHUNK
        assert summary.chunk_files == ["chunk-000000.h5"]
        assert summary.partial_files == ["chunks/chunk-000001.h5.partial"]
        assert any("unfinished" in problem for problem in summary.problems)


def test_after_a_kill_the_volumes_the_writer_finished_are_salvaged(tmp_path):
    kill_the_writer(tmp_path, "none", pause=True)  # one volume into its second chunk
    assert summarize_run(tmp_path).partial_files == ["chunks/chunk-000001.h5.partial"]

    assert salvage_partial_chunks(tmp_path) == 1
    rebuild_dataset(tmp_path)
    summary = summarize_run(tmp_path)
    assert summary.partial_files == [] and summary.unindexed_chunks == []
    assert summary.volumes_saved == PER_CHUNK + 1 == check_whole(tmp_path, complete_only=False)


@pytest.mark.parametrize("pause", [True, False], ids=["paused-mid-chunk", "running"])
def test_a_writer_killed_with_a_publish_behind_it_loses_only_the_volume_it_was_writing(
    tmp_path, pause
):
    """With the saver's ``publish_behind``, the kill may find a complete chunk not yet renamed:
    it is ``.partial`` with every volume recorded, and salvage publishes it like the rest."""
    finished = kill_the_writer(tmp_path, "none", pause, publish_behind=True)

    check_whole(tmp_path)  # what carries a final name is whole, partial or not
    salvage_partial_chunks(tmp_path)
    rebuild_dataset(tmp_path)
    summary = summarize_run(tmp_path)
    assert summary.unindexed_chunks == []
    if pause:  # running, the kill may also leave a chunk opened with no volume finished in it
        assert summary.partial_files == []
    saved = check_whole(tmp_path, complete_only=False)
    # every finished volume; running, at most the one being written when the kill came, too
    assert saved == finished if pause else saved in (finished, finished + 1)

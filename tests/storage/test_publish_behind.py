"""A chunk published behind the writer: named in order, never more than one behind, counted
once it has landed, and a publish that fails stops the writer at its next call."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from lightsheet.storage import (
    ChunkWriter,
    open_run,
    summarize_run,
    write_metadata,
)
from lightsheet.storage import publish_behind as publish_behind_module
from lightsheet.storage.publish_behind import PublishBehind
from lightsheet.storage.space import DiskFull
from tests.storage.test_storage_chunks import SHAPE, frames, volume


def test_every_chunk_is_published_in_order_and_indexed_once_the_writer_closes(tmp_path):
    count = 7
    write_metadata(tmp_path, {"stop_reason": "completed"})
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 1, publish_behind=True) as writer:
        for index in range(count):
            writer.write_volume(volume(index), frames(index))
            # the one just completed may still be landing; none before it
            assert writer.chunks_completed >= index
            partials = sorted(p.name for p in (tmp_path / "chunks").glob("*.partial"))
            assert partials in ([], [f"chunk-{index:06d}.h5.partial"])
    assert writer.chunks_completed == count
    summary = summarize_run(tmp_path)
    assert summary.chunk_files == [f"chunk-{i:06d}.h5" for i in range(count)]
    assert summary.partial_files == [] and summary.unindexed_chunks == []
    data = open_run(tmp_path)
    try:
        for index in range(count):
            np.testing.assert_array_equal(data[index], volume(index))
    finally:
        data.file.close()


def test_a_failed_publish_stops_the_writer_at_its_next_write(tmp_path, monkeypatch):
    def disk_full(partial, final):
        raise OSError(errno.ENOSPC, "No space left on device", str(partial))

    monkeypatch.setattr(publish_behind_module, "publish", disk_full)
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, publish_behind=True)
    writer.write_volume(volume(0), frames(0))  # completes chunk 0; its publish fails behind
    with pytest.raises(DiskFull, match="completing a chunk"):
        writer.write_volume(volume(1), frames(1))
    with pytest.raises(RuntimeError, match="earlier write failed"):
        writer.write_volume(volume(2), frames(2))
    writer.close()
    assert writer.chunks_completed == 0
    assert not list((tmp_path / "chunks").glob("chunk-*.h5"))  # nothing under a final name
    assert (tmp_path / "chunks" / "chunk-000000.h5.partial").exists()


def test_close_raises_a_publish_that_failed_behind_the_last_write(tmp_path, monkeypatch):
    def io_error(partial, final):
        raise OSError(errno.EIO, "Input/output error", str(partial))

    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, publish_behind=True)
    writer.write_volume(volume(0), frames(0))
    writer.close()  # chunk 0 published
    monkeypatch.setattr(publish_behind_module, "publish", io_error)
    other = ChunkWriter(tmp_path / "second", SHAPE, np.uint16, 1, publish_behind=True)
    other.write_volume(volume(0), frames(0))
    with pytest.raises(OSError, match="Input/output"):
        other.close()
    assert not (tmp_path / "second" / "chunks" / "chunk-000000.h5").exists()


def test_one_publish_at_a_time_and_each_outcome_given_once(tmp_path):
    behind: PublishBehind[str] = PublishBehind()
    try:
        assert behind.landed(wait=False) is None  # none in flight
        partial = tmp_path / "a.h5.partial"
        partial.write_bytes(b"whole")
        behind.start(partial, tmp_path / "a.h5", "a")
        with pytest.raises(RuntimeError, match="already in flight"):
            behind.start(partial, tmp_path / "b.h5", "b")
        assert behind.landed(wait=True) == "a"
        assert behind.landed(wait=True) is None
        assert (tmp_path / "a.h5").read_bytes() == b"whole" and not partial.exists()
        behind.start(tmp_path / "missing.partial", tmp_path / "m.h5", "m")
        with pytest.raises(FileNotFoundError):
            behind.landed(wait=True)
        assert behind.landed(wait=True) is None
    finally:
        behind.close()

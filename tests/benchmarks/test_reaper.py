"""The benchmarks' chunk reaper keeps a run's disk (or RAM, on a tmpfs) bounded whatever it finds.

A soak at 152 frames/s on /dev/shm was OOM-killed at 9.5 minutes: the reaper had stopped at
chunk 8306 (its thread returned on an unexpected error, and the soak's logging showed none), and
the run filled the tmpfs with 22 GB of chunks in 25 s.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.reaper import ChunkReaper
from lightsheet.storage import ChunkWriter
from tests.storage.test_storage_chunks import SHAPE, frames, volume

DEADLINE_S = 10.0


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S} s: {what}"
        time.sleep(0.05)


def test_a_chunk_that_breaks_the_check_is_still_deleted_and_the_reaper_goes_on(
    tmp_path, monkeypatch
):
    def broken_check(self, chunk, name):  # type: ignore[no-untyped-def]
        if name == "chunk-000001.h5":
            raise RuntimeError("a check that breaks")
        return []

    monkeypatch.setattr(ChunkReaper, "_check_file", broken_check)
    reaper = ChunkReaper(tmp_path, SHAPE[0], stamped=False)
    reaper.start()
    chunks = tmp_path / "chunks"
    try:
        with ChunkWriter(tmp_path, SHAPE, np.uint16, 1) as writer:
            for index in range(2):
                writer.write_volume(volume(index), frames(index))
            _wait_for(lambda: reaper.stats.deleted == 1, "chunk 1 deleted")
            for index in range(2, 4):  # written after the failed check
                writer.write_volume(volume(index), frames(index))
        _wait_for(lambda: reaper.stats.deleted == 3, "chunks 1-3 deleted")
    finally:
        stats = reaper.finish()
    assert sorted(p.name for p in chunks.glob("chunk-*.h5")) == ["chunk-000000.h5"]
    assert any("a check that breaks" in problem for problem in stats.problems)


def test_checked_chunks_are_held_until_the_sink_holds_more_than_allowed(tmp_path):
    """On a disk the reaper deletes only once the run's chunks pass ``hold_bytes``: deleting
    beside a run trims the disk under it (a filesystem mounted with ``discard``)."""
    chunks = tmp_path / "chunks"

    def on_sink() -> int:
        return sum(p.stat().st_size for p in chunks.glob("chunk-*.h5"))

    with ChunkWriter(tmp_path, SHAPE, np.uint16, 1) as writer:
        for index in range(3):
            writer.write_volume(volume(index), frames(index))
    hold = on_sink() + 1  # three chunks fit; a fourth does not
    reaper = ChunkReaper(tmp_path, SHAPE[0], stamped=False, hold_bytes=hold)
    reaper.start()
    try:
        _wait_for(lambda: reaper.stats.chunks == 3, "chunks 0-2 checked")
        assert reaper.stats.deleted == 0  # checked, and held: the sink has room
        with ChunkWriter(tmp_path / "next", SHAPE, np.uint16, 1) as writer:
            writer.write_volume(volume(3), frames(3))
        (tmp_path / "next" / "chunks" / "chunk-000000.h5").rename(chunks / "chunk-000003.h5")
        _wait_for(lambda: reaper.stats.deleted == 3, "chunks 1-3 deleted once over the hold")
    finally:
        stats = reaper.finish()
    assert sorted(p.name for p in chunks.glob("chunk-*.h5")) == ["chunk-000000.h5"]
    assert stats.chunks == 4

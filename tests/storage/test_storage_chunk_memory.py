"""What the saver keeps per completed chunk file, for the rest of the run.

A run at one volume per chunk completes several chunks a second; what the writer keeps for each
(to rewrite ``dataset.h5``) grows with the run. One Python object per chunk was about 200 bytes,
and, interleaved with the temporaries of each write, pinned Python's small-object pools: the
saver's USS grew about 1 MB a minute in the 30-minute soak. Two integers per chunk in arrays keep
it to a few bytes.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from pathlib import Path

import numpy as np

from lightsheet.processes.frames import empty_frame_table
from lightsheet.storage import chunks
from lightsheet.storage.chunks import ChunkWriter

PLANES, HEIGHT, WIDTH = 2, 8, 8
STORAGE = str(Path(chunks.__file__).parent / "*")


def _storage_bytes() -> int:
    """Python memory allocated by the storage modules and still held (not the log records a
    test run's log capture keeps, which belong to whoever captures them)."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, STORAGE)])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def _write(writer: ChunkWriter, volumes: range) -> None:
    volume = np.zeros((PLANES, HEIGHT, WIDTH), np.uint16)
    for index in volumes:
        table = empty_frame_table(index, PLANES)
        table["present"] = True
        writer.write_volume(volume, table)


def test_a_completed_chunk_costs_the_writer_a_few_bytes(tmp_path: Path, caplog):
    # A captured log record keeps its arguments (the chunk's name): that is the capture's memory.
    caplog.set_level(logging.WARNING, logger="lightsheet.storage")
    # The index is rewritten only at close (a huge budget): only what is kept is measured.
    writer = ChunkWriter(tmp_path / "run", (PLANES, HEIGHT, WIDTH), np.uint16, 1,
                         index_budget=1e12)  # fmt: skip
    _write(writer, range(50))  # warm: caches, first allocations
    gc.collect()
    tracemalloc.start()
    try:
        before = _storage_bytes()
        _write(writer, range(50, 1050))
        gc.collect()
        kept = _storage_bytes() - before
    finally:
        tracemalloc.stop()
    writer.close()
    assert writer.chunks_completed == 1050
    records = writer.chunk_records
    assert [r.first_volume for r in records[:3]] == [0, 1, 2]
    assert records[-1].name == "chunk-001049.h5" and records[-1].volumes == 1
    assert kept / 1000 < 48, f"{kept / 1000:.0f} bytes kept per chunk"

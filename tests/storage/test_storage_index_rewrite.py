"""With an index budget (the saver's way), dataset.h5 is rewritten beside the writing, never in
its way: a rewrite over N chunks stops the writing thread for about N x 50 us (0.44 s at 9000
chunks, 9 minutes of one-volume chunks at 152 frames/s), longer than the rings hold at the
camera's full rate, and a 10-minute soak dropped frames at each late rewrite."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lightsheet.storage import ChunkWriter, open_run
from lightsheet.storage import chunks as chunks_module
from lightsheet.storage.space import DiskFull
from tests.storage.test_storage_chunks import SHAPE, frames, volume

WAIT_S = 10.0
EVERY_CHUNK = 1e-9  # a budget so small that a rewrite is due at every chunk


class HeldRewrite:
    """``write_dataset_file`` that waits, inside the rewrite, until the test lets it go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: BaseException | None = None):
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.calls = 0
        self._fail = fail
        self._write = chunks_module.write_dataset_file
        monkeypatch.setattr(chunks_module, "write_dataset_file", self)

    def __call__(self, run_dir, records, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:  # the empty index the writer opens with
            return self._write(run_dir, records, *args, **kwargs)
        self.started.set()
        self.release.wait(WAIT_S)
        try:
            if self._fail is not None:  # once: the final index, at close, is written
                error, self._fail = self._fail, None
                raise error
            return self._write(run_dir, records, *args, **kwargs)
        finally:
            self.finished.set()


def test_writing_goes_on_while_the_index_is_rewritten(tmp_path, monkeypatch):
    held = HeldRewrite(monkeypatch)
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_budget=EVERY_CHUNK)
    writer.write_volume(volume(0), frames(0))  # completes chunk 0: a rewrite is due
    assert held.started.wait(WAIT_S), "no rewrite started after the first chunk"
    for index in range(1, 4):  # written while that rewrite is held
        writer.write_volume(volume(index), frames(index))
    assert not held.finished.is_set(), "write_volume waited for the index rewrite"
    assert writer.chunks_completed == 4
    held.release.set()
    writer.close()  # waits for the rewrite, then indexes every chunk
    data = open_run(tmp_path)
    try:
        assert data.shape[0] == 4
        for index in range(4):
            np.testing.assert_array_equal(data[index], volume(index))
    finally:
        data.file.close()


def test_a_failed_background_rewrite_is_raised_by_the_next_call(tmp_path, monkeypatch):
    held = HeldRewrite(monkeypatch, fail=OSError(28, "No space left on device"))
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_budget=EVERY_CHUNK)
    writer.write_volume(volume(0), frames(0))
    held.release.set()
    assert held.finished.wait(WAIT_S)
    with pytest.raises(DiskFull, match="index"):
        writer.write_volume(volume(1), frames(1))
    with pytest.raises(RuntimeError, match="earlier write failed"):
        writer.write_volume(volume(2), frames(2))
    writer.close()


def test_without_a_budget_the_index_is_rewritten_before_write_volume_returns(tmp_path):
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1)
    writer.write_volume(volume(0), frames(0))
    data = open_run(tmp_path)
    try:
        assert data.shape[0] == 1
    finally:
        data.file.close()
    writer.close()

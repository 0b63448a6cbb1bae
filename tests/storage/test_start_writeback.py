"""start_writeback, called by the chunk writer after each plane: it loses nothing, and a file
that refuses the advice is still written (the advice must never fail a run)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lightsheet.storage.durable import start_writeback


def test_starting_writeback_keeps_every_byte_and_a_file_that_refuses_it_is_no_error(tmp_path):
    data = np.random.default_rng(7).integers(0, 256, 3 * 2**20, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, data)
        start_writeback(fd)
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    read_end, write_end = os.pipe()  # a pipe has no pages to write back: posix_fadvise refuses
    try:
        with pytest.raises(OSError):
            os.posix_fadvise(read_end, 0, 0, os.POSIX_FADV_DONTNEED)
        start_writeback(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)

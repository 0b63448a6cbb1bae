"""The soak's USS leaves out the run's own files that a process maps: they are the file's pages."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from benchmarks.memory import uss_outside

SIZE = 32 * 2**20


def test_a_mapped_file_of_the_folder_is_not_the_process_memory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    path = run / "chunk.bin"
    with open(path, "wb") as f:
        f.truncate(SIZE)
    before = uss_outside(os.getpid(), run)
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), SIZE) as mapped:
        for at in range(0, SIZE, mmap.PAGESIZE):
            mapped[at] = 1  # each page now private to this process: counted by psutil's USS
        inside = uss_outside(os.getpid(), run)
        counted_elsewhere = uss_outside(os.getpid(), tmp_path / "elsewhere")
    assert before is not None and inside is not None and counted_elsewhere is not None
    # The mapping is USS, but not outside the run. The two reads are apart in time, and the
    # process's other memory moves meanwhile (once 44 KiB less in a full run): a slack of 4 MiB.
    assert counted_elsewhere - inside >= SIZE - 4 * 2**20
    assert abs(inside - before) < SIZE // 2
    assert uss_outside(2**22 + 12345, run) is None  # no such process

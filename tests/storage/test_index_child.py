"""dataset.h5 rewritten by a child process: the writer never waits for it, the run's last index
is complete, a failed or killed child fails the writer, and the child ends with its writer."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest

from lightsheet.storage import ChunkWriter, open_run
from lightsheet.storage.durable import partial_path
from lightsheet.storage.index_child import REWRITES_PER_CHILD
from lightsheet.storage.virtual import DATASET_FILE
from tests.runtime.procs import is_gone
from tests.storage.test_storage_chunks import SHAPE, frames, volume
from tests.waiting import wait_until

WAIT_S = 60.0


def index_children() -> list[psutil.Process]:
    """This process's dataset.h5 writers."""
    found = []
    for child in psutil.Process().children():
        try:
            if any("lightsheet.storage.index_child" in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def indexed_volumes(run_dir: Path) -> int:
    with h5py.File(run_dir / DATASET_FILE, "r") as index:
        return int(index.attrs["volumes"])


def write_until_raised(writer: ChunkWriter) -> None:
    """Write volumes until the writer raises what its child told (the child answers when it
    has started and tried: no fixed count of volumes is enough on a loaded machine)."""
    deadline = time.monotonic() + WAIT_S
    index = 0
    while time.monotonic() < deadline:
        writer.write_volume(volume(index % 8), frames(index))
        index += 1
    raise AssertionError(f"the writer still took volumes after {WAIT_S} s")


def test_the_last_index_maps_every_volume_and_reads_back(tmp_path: Path) -> None:
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_in_child=True) as writer:
        for index in range(12):
            writer.write_volume(volume(index), frames(index))
        assert [child.pid for child in index_children()] != []
    assert index_children() == []  # the child ended with the run
    data = open_run(tmp_path)
    try:
        assert data.shape == (12, *SHAPE)
        for index in range(12):
            np.testing.assert_array_equal(data[index], volume(index))
    finally:
        data.file.close()


def test_the_child_starts_with_the_run_and_an_unused_one_ends_with_its_writer(
    tmp_path: Path,
) -> None:
    """Its start costs CPU: it is paid before the camera's first frame, not at the first chunk."""
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 4, index_in_child=True)
    try:
        (child,) = index_children()  # before any volume was written
        writer.write_volume(volume(0), frames(0))  # no chunk completed: no rewrite asked for
    finally:
        writer.close()
    child.wait(WAIT_S)
    assert index_children() == []
    assert indexed_volumes(tmp_path) == 1


def test_the_writer_goes_on_while_a_rewrite_is_held(tmp_path: Path) -> None:
    """The child is stopped (SIGSTOP) mid-run: every write still returns, and the indexes the
    child publishes afterwards (and the last) catch up."""
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_in_child=True)
    try:
        writer.write_volume(volume(0), frames(0))  # the first chunk: the child starts
        wait_until(index_children, WAIT_S, "the dataset.h5 writer")
        (child,) = index_children()
        wait_until(lambda: indexed_volumes(tmp_path) == 1, WAIT_S, "the first chunk indexed")
        os.kill(child.pid, signal.SIGSTOP)
        try:
            for index in range(1, 30):
                writer.write_volume(volume(index), frames(index))
            assert indexed_volumes(tmp_path) <= 2  # nothing the held child did not publish
        finally:
            os.kill(child.pid, signal.SIGCONT)
        writer.close()
    finally:
        writer.close()
    assert indexed_volumes(tmp_path) == 30


def test_a_rewrite_that_fails_in_the_child_fails_the_writer(tmp_path: Path) -> None:
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_in_child=True)
    try:
        partial_path(tmp_path / DATASET_FILE).mkdir()  # the child cannot create its file
        with pytest.raises(OSError, match=r"rewriting dataset\.h5 failed"):
            write_until_raised(writer)
        with pytest.raises(RuntimeError, match="refuses more volumes"):
            writer.write_volume(volume(0), frames(0))
    finally:
        writer.close()
    assert index_children() == []


def test_a_killed_child_fails_the_writer_with_its_exit(tmp_path: Path) -> None:
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_in_child=True)
    writer.write_volume(volume(0), frames(0))
    wait_until(index_children, WAIT_S, "the dataset.h5 writer")
    (child,) = index_children()
    child.kill()
    child.wait(WAIT_S)
    with pytest.raises(RuntimeError, match=rf"writer \(pid {child.pid}\) exited"):
        write_until_raised(writer)
    writer.close()


def write_then_die(run_dir: str, child_pid) -> None:  # type: ignore[no-untyped-def]
    """A writer whose process is killed mid-run, its child alive and idle."""
    writer = ChunkWriter(run_dir, SHAPE, np.uint16, 1, index_in_child=True)
    writer.write_volume(volume(0), frames(0))
    wait_until(index_children, WAIT_S, "the dataset.h5 writer")
    child_pid.value = index_children()[0].pid
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_child_ends_when_its_writer_dies(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    child_pid = context.Value("q", 0)
    writer = context.Process(target=write_then_die, args=(str(tmp_path), child_pid))
    writer.start()
    writer.join(WAIT_S)
    assert writer.exitcode == -signal.SIGKILL
    assert child_pid.value > 0
    wait_until(lambda: is_gone(child_pid.value), WAIT_S, "the orphaned dataset.h5 writer to end")
    assert indexed_volumes(tmp_path) in (0, 1)  # whichever index it published, it opens


def test_a_child_is_replaced_after_its_share_of_rewrites(tmp_path: Path) -> None:
    """Each child's heap keeps part of every rewrite; a fresh one after REWRITES_PER_CHILD."""
    pids: set[int] = set()
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 1, index_in_child=True) as writer:
        deadline = time.monotonic() + WAIT_S
        index = 0
        while len(pids) < 2 and time.monotonic() < deadline:
            writer.write_volume(volume(index % 8), frames(index))
            pids.update(child.pid for child in index_children())
            index += 1
        assert indexed_volumes(tmp_path) >= REWRITES_PER_CHILD
    assert len(pids) >= 2, "the first child served every rewrite"
    assert indexed_volumes(tmp_path) == index

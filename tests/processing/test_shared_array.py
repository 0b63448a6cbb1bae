"""Shared arrays: refused when they would not fit, owned by a ``with`` (unlinked on every exit
path, never by the garbage collector), and a block left by a killed run removed at the next
start."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lightsheet.processing.shared_array import (
    ArrayHandle,
    NotEnoughMemory,
    create_shared_array,
    memory_room,
)
from lightsheet.runtime.shm import SHM_DIR
from tests.processing.conftest import our_blocks
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_an_array_larger_than_free_memory_is_refused_with_the_sizes():
    too_big = sum(memory_room()) // 4 + 2**30  # 4-byte items: more than RAM and /dev/shm
    before = our_blocks()  # (another test process may make and remove blocks meanwhile)
    with pytest.raises(NotEnoughMemory) as caught:
        create_shared_array((too_big,), np.float32, "stack")
    message = str(caught.value)
    assert "does not fit" in message and "RAM available" in message and str(SHM_DIR) in message
    assert our_blocks() == before  # nothing was created


def test_the_block_goes_when_the_with_ends_even_on_an_error():
    with pytest.raises(RuntimeError), create_shared_array((4, 4), np.uint16, "stack") as array:
        name = array.name
        assert (SHM_DIR / name).exists()
        raise RuntimeError("boom")
    assert not (SHM_DIR / name).exists()


def test_dropping_the_last_reference_does_not_unlink_the_block():
    array = create_shared_array((8,), np.float64, "stack")
    name = array.name
    handle = array.handle
    del array
    gc.collect()
    assert (SHM_DIR / name).exists()  # only the owner's close() removes it
    from lightsheet.processing.shared_array import _owned  # the owner's registry keeps it

    assert name in _owned
    os.unlink(SHM_DIR / name)
    _owned.pop(name)
    assert handle.name == name


def test_the_handle_is_a_few_bytes_whatever_the_array():
    with create_shared_array((256, 1024, 1024), np.uint8, "stack") as array:
        handle = pickle.loads(pickle.dumps(array.handle))
        assert handle == array.handle and isinstance(handle, ArrayHandle)
        assert len(pickle.dumps(array.handle)) < 250
        assert handle.nbytes == array.array.nbytes
        with pytest.raises(ValueError):
            handle.reshaped(3, 7)


_OWNER = """
import sys, numpy as np
from lightsheet.processing.shared_array import create_shared_array
array = create_shared_array((1000,), np.float32, "stack")
print(array.name, flush=True)
sys.stdin.read()
"""

_NEXT_START = """
from lightsheet.processing.pool import ProcessingPool
pool = ProcessingPool(1, backend="threads")
pool.start()
pool.close()
"""


def test_a_block_left_by_a_killed_run_is_removed_at_the_next_start():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Its own session, so that killing the group also kills multiprocessing's resource tracker,
    # which would otherwise tidy up after the owner: nothing is left to clean but the block.
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,
    )
    try:
        name = owner.stdout.readline().strip()
        assert (SHM_DIR / name).exists()
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait(10)
    wait_until(lambda: not _running(owner.pid), 10, "the killed owner to be gone")
    assert (SHM_DIR / name).exists()  # a killed process cleans nothing up
    subprocess.run([sys.executable, "-c", _NEXT_START], env=env, check=True, timeout=60)
    assert not (SHM_DIR / name).exists()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

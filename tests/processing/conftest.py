"""Fixtures of the processing tests: one worker pool for the package (workers are spawned once,
as in the application, and gone before other suites count their children), and a check that no
test leaves a shared-memory block behind."""

from __future__ import annotations

import os

import pytest

from lightsheet.processing.pool import ProcessingPool
from lightsheet.runtime.shm import list_blocks, owner_pid


def our_blocks() -> list[str]:
    return [name for name in list_blocks() if owner_pid(name) == os.getpid()]


@pytest.fixture(scope="package")
def pool():
    with ProcessingPool(workers=2, backend="processes", serial_below_bytes=0) as shared:
        yield shared


@pytest.fixture(autouse=True)
def no_blocks_left():
    yield
    assert our_blocks() == [], "a test left shared memory behind"

"""Every live-processing test leaves no process and no shared-memory block behind."""

from __future__ import annotations

import pytest

from tests.gui.conftest import children
from tests.pipeline.rigs import our_blocks
from tests.waiting import wait_until


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    wait_until(lambda: children() == [], 20, "every child process to exit")
    assert our_blocks() == [], "shared memory left behind"

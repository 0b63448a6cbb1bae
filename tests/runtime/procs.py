"""Helpers of the multiprocess runtime tests: polling with a deadline, leftover checks."""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil

from lightsheet.runtime.shm import list_blocks
from tests.runtime.workers import PURPOSE
from tests.waiting import wait_until


def is_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def live_children() -> list[psutil.Process]:
    """Children of this test process, except multiprocessing's resource tracker.

    The tracker is one helper per interpreter that lives as long as pytest does, not a process
    of any test.
    """
    result = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            if any("resource_tracker" in part for part in child.cmdline()):
                continue
        except psutil.NoSuchProcess:
            continue
        result.append(child)
    return result


def worker_blocks() -> list[str]:
    """The ``lightsheet-*`` blocks the test workers create (other suites' blocks ignored)."""
    return [name for name in list_blocks() if f"-{PURPOSE}-" in name]


def assert_no_leftovers(pids: Iterable[int] = ()) -> None:
    """No process of the test and no block of the test workers remain."""
    for pid in pids:
        wait_until(lambda pid=pid: is_gone(pid), timeout=5.0)
    wait_until(lambda: not live_children(), timeout=5.0)
    assert worker_blocks() == []

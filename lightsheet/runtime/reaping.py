"""A child's end, seen the same by every thread of the main process.

multiprocessing's process handle learns that its child ended through ``waitpid``, and it is not
thread-safe: the thread whose ``waitpid`` reaps the child records the exit code a moment later,
and another thread asking in between gets ECHILD and is told "not ended", with no exit code. The
Supervisor's watcher thread and the thread that stops a worker ask at the same moment (the child's
exit wakes both), and that race once reported a scanner that had exited as "did not stop within
5 s; still alive after SIGKILL".

So every question to a worker's handle goes through one lock, ``Process.start`` included (it
polls every earlier child, ``multiprocessing.process._cleanup``). A handle polled elsewhere without
the lock (another library starting processes) can still reap first; ``join`` then waits, bounded,
for that thread to record the code, since a ready sentinel proves the child has ended.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.connection import wait as wait_ready
from typing import Any

RECORD_WAIT_S = 1.0  # for another thread that reaped the child to record its exit code

_LOCK = threading.Lock()


def start(process: Any) -> None:
    with _LOCK:
        process.start()


def exitcode(process: Any) -> int | None:
    with _LOCK:
        code: int | None = process.exitcode
        return code


def is_alive(process: Any) -> bool:
    with _LOCK:
        return bool(process.is_alive())


def send_signal(process: Any, kill: bool) -> None:
    """SIGKILL or SIGTERM, unless the child is known to have ended (its pid may be reused)."""
    with _LOCK:
        if kill:
            process.kill()
        else:
            process.terminate()


def join(process: Any, timeout: float | None) -> bool:
    """Wait up to ``timeout`` for the child to end, and reap it; True when it has ended."""
    if not wait_ready([process.sentinel], timeout):
        return exitcode(process) is not None
    # The sentinel closes while the child exits: the reaping wait below is short.
    with _LOCK:
        process.join()
        if process.exitcode is not None:
            return True
    deadline = time.monotonic() + RECORD_WAIT_S
    while exitcode(process) is None:  # reaped by a thread outside the lock: it records soon
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True

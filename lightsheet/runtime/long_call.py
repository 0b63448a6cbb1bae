"""A slow call made while a heartbeat goes on, so slowness is not mistaken for a hang.

A camera rendering its planes or an SDK opening a device can take seconds, longer than the
Supervisor's heartbeat limit. The call runs in a helper thread while the caller's thread keeps
beating, for at most ``limit_s``: past that the beats stop, and a call that never returns is seen
as a hang like any other. Its result or exception comes back to the caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
LONG_CALL_LIMIT_S = 60.0


def beating_while(call: Callable[[], T], beat: Callable[[], None], limit_s: float) -> T:
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="long-call", daemon=True)
    thread.start()
    deadline = time.monotonic() + limit_s
    while thread.is_alive() and time.monotonic() < deadline:
        beat()
        thread.join(0.1)
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result

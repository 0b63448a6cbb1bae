"""LoggedEvent: a multiprocessing Event whose every change is written to the logs that saw it.

When processes coordinate through events, a post-mortem needs to know who set what and when
each process noticed. The sender logs every ``set``/``clear``; a receiver logs when ``is_set`` or
``wait`` returns a value different from the last one it saw in that process. The lines go to
the log file of the process that wrote them, with kind EVENT.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
from typing import Any

_log = logging.getLogger("lightsheet.runtime.events")
_EVENT = {"kind": "EVENT"}


class LoggedEvent:
    """Picklable for spawned children (like the Event it wraps, only while spawning).

    Each process starts believing the event is clear, so a child that first looks at an event
    the parent already set logs that it has seen it set.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._event = mp.get_context("spawn").Event()
        self._init_local()

    def _init_local(self) -> None:
        self._seen = False
        self._seen_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "_event": self._event}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_local()

    def __repr__(self) -> str:
        return f"LoggedEvent({self.name!r})"

    def set(self) -> None:
        with self._seen_lock:
            self._event.set()
            self._seen = True  # the sender knows; it must not log its own change as news
        _log.info("event %s set", self.name, extra=_EVENT)

    def clear(self) -> None:
        with self._seen_lock:
            self._event.clear()
            self._seen = False
        _log.info("event %s cleared", self.name, extra=_EVENT)

    def is_set(self) -> bool:
        return self._observe(self._event.is_set(), "is_set")

    def wait(self, timeout: float | None = None) -> bool:
        return self._observe(self._event.wait(timeout), "wait")

    def _observe(self, value: bool, how: str) -> bool:
        with self._seen_lock:
            changed = value != self._seen
            self._seen = value
        if changed:
            _log.info(
                "event %s seen %s (%s)", self.name, "set" if value else "clear", how, extra=_EVENT
            )
        return value

"""What the main process reads of a live processor: its results (the newest one, a metric's
recent values, whichever way they come: queue or shared-memory ring), its counters and events."""

from __future__ import annotations

import collections
from dataclasses import dataclass

from lightsheet.processing.results import LocalResultQueue, Result, ResultQueue, ResultRing

HISTORY = 2000  # values of a scalar result (a focus metric) kept for the live plot


@dataclass(frozen=True)
class ProcessingEvent:
    level: str  # "error" or "warning"
    text: str
    traceback: str = ""


@dataclass(frozen=True)
class ProcessingStats:
    processor: str  # its name ("" without one)
    where: str  # "process", "thread" or "" (not running)
    state: str  # "none", "starting", "off", "running", "switched off", "died"
    version: int
    frames: int
    skipped: int
    fps: float
    results: int
    results_dropped: int  # a full queue dropped them, oldest first
    results_unseen: int  # a shared-memory ring: results the display never read
    errors: int
    restarts: int
    latency_ms: float


class ResultReader:
    """Takes results off a host's result memory; ``latest()`` never returns one twice."""

    def __init__(self, source: ResultQueue | LocalResultQueue | ResultRing) -> None:
        self._source = source
        self._last_seq = -1
        self.skipped = 0  # results the reader never saw (a ring read latest-only)
        self.history: collections.deque[tuple[int, int, float]] = collections.deque(
            maxlen=HISTORY
        )  # (run, frame id, value) of scalar results, oldest first

    @property
    def dropped(self) -> int:
        """Results a full queue dropped, oldest first (0 for a ring: it never holds any back)."""
        source = self._source
        return 0 if isinstance(source, ResultRing) else source.dropped

    def latest(self) -> Result | None:
        """The newest result not returned before, or None."""
        source = self._source
        if isinstance(source, ResultRing):
            newest = source.read_latest(self._last_seq)
            taken = [] if newest is None else [newest]
        else:
            taken = source.take_all()
        for result in taken:
            if result.is_scalar:
                value = float(result.data.reshape(-1)[0])
                self.history.append((result.run, result.frame_id, value))
            if isinstance(source, ResultRing):
                self.skipped += max(result.seq - self._last_seq - 1, 0)
            self._last_seq = result.seq
        return taken[-1] if taken else None

"""Named numeric counters shared by every process, readable by the main process at any time.

The GUI status bar and the CLI progress bar read them without asking the children anything, so a
busy or hung child can never stall the display. Each counter has one writer (the process that owns
it); 8-byte aligned float stores are atomic on the platforms we run on, so no lock is needed.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable


class StatusBoard:
    """A fixed set of named float counters in shared memory; picklable for spawned children."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = tuple(dict.fromkeys(names))
        self._index = {name: i for i, name in enumerate(self._names)}
        self._values = mp.get_context("spawn").RawArray("d", len(self._names))

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def set(self, name: str, value: float) -> None:
        self._values[self._index[name]] = float(value)

    def add(self, name: str, amount: float = 1.0) -> None:
        """Increment a counter; only its single writer may call this."""
        self._values[self._index[name]] += amount

    def get(self, name: str) -> float:
        return self._values[self._index[name]]

    def snapshot(self) -> dict[str, float]:
        values = self._values[:]
        return dict(zip(self._names, values, strict=True))

    def reset(self, names: Iterable[str]) -> None:
        for name in names:
            self.set(name, 0.0)

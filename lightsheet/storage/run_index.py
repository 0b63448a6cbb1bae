"""When and where a run's dataset.h5 is rewritten while its chunks complete.

Rewriting the index costs more with every chunk it maps. By default it is rewritten after each
chunk, in the writer's process; with a budget N, only once N times its last cost has passed (the
saver keeps it under 1/N of its time however long the run); with ``in_child`` by a child process
(``index_child.py``) while the writer goes on. It is always rewritten at the end of a run, before
the writer closes. A crash can leave the last chunks unindexed: they are complete files, and
``virtual.rebuild_dataset`` indexes them again.
"""

from __future__ import annotations

import time
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.storage.chunk_content import FRAMES_DTYPE
from lightsheet.storage.index_child import IndexChild, IndexWriteFailed
from lightsheet.storage.virtual import chunk_records, write_dataset_file


class RunIndex:
    """dataset.h5 of one run. Failures are raised as OSError (with the OS's errno when it
    refused a write, so a full disk reads as one) or RuntimeError, from the call that sees them:
    for the child's rewrites, the next ``collect``, ``chunk_completed`` or ``finish``."""

    def __init__(
        self,
        run_dir: Path,
        volume_shape: tuple[int, int, int],
        dtype: np.dtype,
        attrs: dict[str, Any],
        budget: float | None = None,
        in_child: bool = False,
    ) -> None:
        self._run_dir = run_dir
        self._shape = volume_shape
        self._dtype = dtype
        self._attrs = attrs
        self._budget = budget
        self._written = 0.0  # when the last rewrite was asked for
        self._cost = 0.0  # seconds the last rewrite took
        self._stale = False
        self._write(array("q"))  # the run opens, with 0 volumes, from its first moment
        self._child = (
            IndexChild(run_dir, volume_shape, dtype, FRAMES_DTYPE, attrs) if in_child else None
        )
        if self._child is not None:
            self._child.start()  # now, before the run's frames: see index_child.py

    def chunk_completed(self, counts: array[int], rewrite: bool = True) -> None:
        """A chunk was published; ``counts`` holds the volumes of every complete chunk. With
        ``rewrite`` False (the last chunk of a run) only ``finish`` will index it."""
        self._stale = True
        self.collect()
        if rewrite and self._due():
            if self._child is None:
                self._write(counts)
            else:
                self._child.submit(counts)
                self._written = time.monotonic()
                self._stale = False

    def collect(self) -> None:
        """Take the answer of the child's rewrite if it has come."""
        if self._child is None or not self._child.busy:
            return
        try:
            if self._child.poll():
                self._cost = self._child.cost
        except IndexWriteFailed as exc:
            raise _as_raised(exc) from None

    def finish(self, counts: array[int]) -> None:
        """The run's last dataset.h5, over ``counts``, written before this returns: by a child
        if the run used one (after the rewrite it holds), else here."""
        if self._child is not None and self._child.used:
            try:
                self._child.finish(counts if self._stale else None)
            except IndexWriteFailed as exc:
                raise _as_raised(exc) from None
        elif self._stale:
            self._write(counts)
        self._stale = False

    def close(self) -> None:
        """End the child, if any (a rewrite it holds completes first); safe to call twice."""
        if self._child is not None:
            self._child.close()

    def _due(self) -> bool:
        if self._child is not None and self._child.busy:
            return False
        if self._budget is None:
            return True
        return time.monotonic() - self._written >= self._budget * self._cost

    def _write(self, counts: array[int]) -> None:
        began = time.monotonic()
        records = chunk_records(counts)
        write_dataset_file(
            self._run_dir, records, self._shape, self._dtype, FRAMES_DTYPE, self._attrs
        )
        self._written = time.monotonic()
        self._cost = self._written - began
        self._stale = False


def _as_raised(exc: IndexWriteFailed) -> Exception:
    if exc.errno is not None:
        return OSError(exc.errno, str(exc))
    return RuntimeError(str(exc))

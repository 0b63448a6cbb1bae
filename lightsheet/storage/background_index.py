"""dataset.h5 rewritten on a thread beside the chunk writer, so that writing never waits for it.

A rewrite maps every chunk of the run, so it costs more with every chunk: 0.44 s at 9000 chunks
(nine minutes of one-volume chunks at 152 frames/s), longer than the rings hold at the camera's
full rate, and a saver that rewrote on its writing thread dropped frames at each late rewrite.

h5py serialises every HDF5 call under one lock, so a rewrite and the writer's chunk writes take
turns call by call; the longest single call of a rewrite (creating the virtual dataset) took
73 ms at 9000 chunks. One rewrite runs at a time: the writer asks for the next only once this
one is done, and writes the final index itself, after waiting for this one, when it closes.
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections.abc import Callable

_log = logging.getLogger(__name__)


class BackgroundIndex:
    """Runs ``rewrite(volume_counts)`` on a thread, one at a time, and keeps its error.

    ``volume_counts`` is the writer's per-chunk volume counts, copied when the rewrite starts:
    the writer goes on appending to its own array meanwhile.
    """

    def __init__(self, rewrite: Callable[[array[int]], None], name: str) -> None:
        self._rewrite = rewrite
        self._name = name
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, volume_counts: array[int]) -> None:
        """Start a rewrite of the index over these chunks; the caller checks ``busy`` first."""
        if self.busy:
            raise RuntimeError("an index rewrite is already running")
        snapshot = array(volume_counts.typecode, volume_counts)
        self._thread = threading.Thread(
            target=self._run, args=(snapshot,), name=self._name, daemon=True
        )
        self._thread.start()

    def wait(self) -> None:
        """Until the running rewrite, if any, is done."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def take_error(self) -> BaseException | None:
        """The error a finished rewrite raised, once; None when there is none."""
        if self.busy:
            return None
        error, self._error = self._error, None
        return error

    def _run(self, volume_counts: array[int]) -> None:
        try:
            self._rewrite(volume_counts)
        except BaseException as exc:  # the writer raises it from its next call
            _log.debug("index rewrite over %d chunks failed", len(volume_counts), exc_info=True)
            self._error = exc

"""One volume's planes written on a thread while the writer does its bookkeeping for the next.

Why: at the disk's edge the saver was writing 90 % of the time, and per volume it spent about
1.5 ms outside its ``pwritev`` (HDF5: the datasets resized, the per-plane table written, the
volume counted and the file's metadata flushed) while the disk had nothing to do: about 4 % of
a volume's time at 265 frames/s. With the data write of volume N on this thread, the writer
prepares volume N + 1 meanwhile (its space, its rows of the table, where its planes go), and
once N's write has landed counts N in the file and starts N + 1's. Only the count (and the
metadata flush with it) waits between the two: on ext4 a direct write that extends the file
holds the file's inode lock, and a write of HDF5 metadata into the file during it waited for it
(a first version that counted N during N + 1's write gained nothing). Chunk writer alone on this
VM's disk, 150 volumes of 84 MB from 2 MiB pages, alternating (``/tmp`` probe): between one
write's end and the next's start 0.74-0.87 ms at the median, against 1.39-1.43 ms.

The rule that keeps the data safe: the planes are read from the caller's memory (the camera's
frame slots) until ``wait`` returns, so the caller must hold that memory until then; the chunk
writer says how many volumes are still in flight (``ChunkWriter.volumes_in_flight``), and the
saver releases a volume's slot only once its write has landed. One volume at most is in flight:
the thread only writes (no HDF5), and HDF5 is called from the writer's thread alone.

``write_s`` sums the time the writes took on the thread: bytes / ``write_s`` is the sink's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class VolumeInFlight:
    """At most one data write running on a thread of its own."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, "volume-write")
        self._future: Future[float] | None = None
        self.write_s = 0.0

    @property
    def pending(self) -> bool:
        return self._future is not None

    def start(self, write: Callable[[], None]) -> None:
        """Run ``write`` on the thread; the one before must have been waited for."""
        if self._future is not None:
            raise RuntimeError("a volume's write is still in flight: wait for it first")
        self._future = self._pool.submit(_timed, write)

    def wait(self) -> int:
        """Wait for the write in flight, if any: 1 when one landed, else 0. Raises its error."""
        future, self._future = self._future, None
        if future is None:
            return 0
        self.write_s += future.result()
        return 1

    def close(self) -> None:
        """Let a write in flight end (its error is the caller's to have taken with ``wait``),
        then stop the thread: after this, no caller's memory is read."""
        self._future = None
        self._pool.shutdown(wait=True)


def _timed(write: Callable[[], None]) -> float:
    started = time.perf_counter()
    write()
    return time.perf_counter() - started

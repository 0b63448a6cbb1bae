"""A chunk's publish (fsync, rename, the folder's fsync) on a thread of its own, one at a time.

At the disk's edge rate the publish of a one-volume chunk took 20 of the 71 ms a volume has,
and the saver wrote nothing while it waited. Behind the writer, the publish of chunk N runs
while chunk N+1 is written; ``os.fsync`` and ``os.replace`` release the GIL.

What changes for a reader of the writer: chunk N counts as complete (``chunks_completed``, its
final name, its place in dataset.h5) once its publish has landed, which the writer notices at
its next write or at ``close``, not when the call that filled the chunk returns. At most one
publish is in flight: the next chunk's completion waits for it, so the files on disk are never
more than one chunk behind the writer. A writer killed meanwhile leaves that chunk ``.partial``
with every volume recorded, which ``salvage.py`` publishes like any other.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from lightsheet.storage.durable import publish

T = TypeVar("T")


class PublishBehind(Generic[T]):
    """``start`` one publish with what the caller needs once it lands; ``landed`` gives that
    back when it has (raising its error if it failed)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="publish")
        self._pending: tuple[Future[None], T] | None = None

    @property
    def in_flight(self) -> bool:
        return self._pending is not None

    def start(self, partial: Path, final: Path, landed_with: T) -> None:
        if self._pending is not None:
            raise RuntimeError("a publish is already in flight: take it with landed() first")
        self._pending = (self._pool.submit(publish, partial, final), landed_with)

    def landed(self, wait: bool) -> T | None:
        """What ``start`` was given, once its publish is done; None if none is in flight, or
        (without ``wait``) it has not landed yet. A failed publish raises here, once."""
        if self._pending is None:
            return None
        future, landed_with = self._pending
        if not wait and not future.done():
            return None
        self._pending = None
        future.result()
        return landed_with

    def close(self) -> None:
        """End the thread after the publish in flight, whose outcome is then not reported."""
        self._pool.shutdown(wait=True)
        self._pending = None

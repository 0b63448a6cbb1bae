"""Control-message channels between processes, each logging what passes through it (kind QUEUE).

SettingsChannel carries a process's desired state: only the newest value matters, so a slow
receiver skips straight to it instead of replaying every intermediate edit. LoggedQueue is a
plain FIFO for messages where every one counts. Frames never travel here (shared memory only).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import queue
import time
from typing import Any

_log = logging.getLogger("lightsheet.runtime.channels")
_QUEUE = {"kind": "QUEUE"}
_REPR_CHARS = 200
# How long a receiver waits for a value the sender has already handed to the queue's feeder
# thread; only a sender that died in the middle of a put makes it run out.
DELIVERY_TIMEOUT_S = 1.0


def describe(item: object) -> str:
    """A bounded repr for log lines, so a large message cannot flood a log file."""
    text = repr(item)
    return text if len(text) <= _REPR_CHARS else f"{text[:_REPR_CHARS]}... ({len(text)} chars)"


class SettingsChannel:
    """Latest wins: the receiver gets only the newest value, older ones are discarded.

    Values are numbered as they are put; the receiver compares the newest number with the last
    it applied, so ``poll`` is a cheap check for the run loop, and ``take`` is guaranteed to
    return the newest value put before it was called. One receiver process. The receiver reads
    the number without a lock (an aligned 8-byte load), so a receiver killed at any instant can
    never leave a lock held that the sender would then wait on forever. Picklable only while
    spawning a child, like the queue inside.
    """

    def __init__(self, name: str) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self._queue = ctx.Queue()
        self._newest = ctx.RawValue("q", 0)  # number of the newest value put
        self._put_lock = ctx.Lock()  # senders only: numbers and queue order agree
        self._taken = 0  # this process's last applied number (receiver side)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_taken"] = 0
        return state

    def put(self, value: object) -> None:
        """Send ``value``; pickled here, so an unpicklable value raises in the sender."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with self._put_lock:
            number = self._newest.value + 1
            self._queue.put((number, data))
            self._newest.value = number
        # A dead receiver must never keep this process from exiting on a full pipe; settings
        # still in flight when the sender exits are worthless anyway.
        self._queue.cancel_join_thread()
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "settings %s #%d put (%d bytes): %s",
                self.name,
                number,
                len(data),
                describe(value),
                extra=_QUEUE,
            )

    def poll(self) -> bool:
        """Whether a value newer than the last one taken has been put."""
        return bool(self._newest.value != self._taken)

    def take(self) -> object:
        """The newest value, discarding older ones; queue.Empty when there is nothing newer."""
        if not self.poll():
            raise queue.Empty
        previous = self._taken
        newest: tuple[int, bytes] | None = None
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while newest is None or newest[0] < self._newest.value:
            try:
                newest = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                # Lost with a sender that died mid-put: give up on it rather than wait again.
                self._taken = self._newest.value
                _log.warning("settings %s: #%d never arrived", self.name, self._taken, extra=_QUEUE)
                if newest is None:
                    raise
                break
            self._taken = max(self._taken, newest[0])
        number, data = newest
        value = pickle.loads(data)
        _log.debug(
            "settings %s #%d taken (%d older skipped)",
            self.name,
            number,
            number - previous - 1,
            extra=_QUEUE,
        )
        return value


class LoggedQueue:
    """A multiprocessing Queue (spawn context) that logs every put and get at debug level."""

    def __init__(self, name: str, maxsize: int = 0) -> None:
        self.name = name
        self._queue = mp.get_context("spawn").Queue(maxsize)

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        self._queue.put(item, block, timeout)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("queue %s put: %s", self.name, describe(item), extra=_QUEUE)

    def put_nowait(self, item: object) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = self._queue.get(block, timeout)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("queue %s got: %s", self.name, describe(item), extra=_QUEUE)
        return item

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def empty(self) -> bool:
        return self._queue.empty()

    def close(self) -> None:
        """No more puts from this process; its feeder thread flushes and stops."""
        self._queue.close()

    def cancel_join_thread(self) -> None:
        """Let this process exit without flushing what it put (the reader may be gone)."""
        self._queue.cancel_join_thread()

    def flush(self, timeout_s: float) -> bool:
        """No more puts; wait up to ``timeout_s`` for what was put to reach the pipe.

        False when the reader does not take it in time (the items are then abandoned).
        """
        self._queue.close()  # the feeder thread writes what is buffered, then ends
        # Joined directly: after cancel_join_thread() the queue's own join_thread() is a no-op.
        feeder = getattr(self._queue, "_thread", None)
        if feeder is None:
            return True
        feeder.join(timeout_s)
        return not feeder.is_alive()

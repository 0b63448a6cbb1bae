"""Results of a live processor and the two ways they reach the GUI: a queue, or shared memory.

A ``Result`` is one image (or number) with where it came from: the frame id (for a volume's
result, the last frame of the volume that was processed), run, volume, how many frames went into
it, and the settings version it was computed with.

- ``ResultQueue`` (default): results pickled through a bounded queue. When the reader is slow
  the *oldest* waiting result is dropped to make room, and counted; nothing is lost silently.
  ``LocalResultQueue`` is the same for a processor in a thread of the main process.
- ``ResultRing`` (``shared_memory``): slots of shared memory that the processor fills in turn,
  never waiting, and that the GUI reads latest-only, like the preview. Each slot has a sequence
  number that is odd while the slot is being written and even once it is complete; a reader that
  sees the same even number before and after its copy got a whole result, and otherwise tries
  again, so a torn image (half one result, half the next) is never returned. Results skipped by
  a reader are counted exactly from the results' own numbers. Any dtype and shape fits, up to
  the slot size chosen at creation.

Memory ordering is that of ``lightsheet.runtime.ring`` (x86-64 TSO: stores become visible in
program order, loads are not reordered with other loads).
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import queue
import threading
import uuid
from dataclasses import dataclass, replace
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from lightsheet.runtime.shm import attach_block, create_block, release_block

MAX_DIMS = 4
_PAGE = 4096
_PUBLISHED = 0
_HEADER_BYTES = 64
_READ_ATTEMPTS = 8
_DROP_WAIT_S = 0.05
RESULT_META = np.dtype(
    [
        ("seq", "<i8"),
        ("frame_id", "<i8"),
        ("run", "<i8"),
        ("volume", "<i8"),
        ("version", "<i8"),
        ("frames", "<i8"),
        ("frame_host_ts", "<f8"),
        ("done_ts", "<f8"),
        ("per_volume", "<i4"),
        ("ndim", "<i4"),
        ("shape", "<i8", (MAX_DIMS,)),
        ("dtype", "S16"),
        ("nbytes", "<i8"),
    ]
)


class ResultTooLarge(ValueError):
    """A result that does not fit a slot of the result ring (or has an unsupported dtype)."""


@dataclass(frozen=True)
class Result:
    data: np.ndarray  # (y, x) image, any shape and numeric dtype; 0-d for a number
    seq: int  # results produced since the processor started, from 0
    frame_id: int
    run: int
    volume: int
    version: int  # the settings version it was computed with
    frames: int = 1  # frames that went into it (a volume's result: those processed)
    per_volume: bool = False
    frame_host_ts: float = 0.0  # time.time() when its (last) frame arrived on the host
    done_ts: float = 0.0  # time.time() when the result was ready

    @property
    def is_scalar(self) -> bool:
        return self.data.size == 1

    def summary(self) -> str:
        kind = "volume" if self.per_volume else "frame"
        return (
            f"Result #{self.seq} of {kind} {self.volume if self.per_volume else self.frame_id} "
            f"(run {self.run}, v{self.version}, {self.data.shape} {self.data.dtype})"
        )


# -- queues -------------------------------------------------------------------------------------


class ResultQueue:
    """Results pickled through a multiprocessing queue; when the reader is slow the *oldest*
    waiting result is dropped, and counted.

    The producer never waits and never reads a result back to drop it: ``offer`` adds the result
    to a list of its own (at most ``maxsize``; the oldest goes when it is full), from which a
    sender thread moves results into the queue (at most ``maxsize`` more, on their way, and one
    in the sender's hand) as fast as the reader takes them. Picklable only while the processor
    process is being spawned (it holds a multiprocessing queue); ``dropped`` is written by the
    producer only.
    """

    def __init__(self, maxsize: int = 8) -> None:
        ctx = mp.get_context("spawn")
        self.maxsize = maxsize
        self._queue = ctx.Queue(maxsize)
        self._dropped = ctx.RawValue("q", 0)
        self._init_producer()

    def _init_producer(self) -> None:
        self._pending: collections.deque[Result] = collections.deque()
        self._cond = threading.Condition()
        self._sender: threading.Thread | None = None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        for local in ("_pending", "_cond", "_sender"):
            del state[local]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._init_producer()

    @property
    def dropped(self) -> int:
        return int(self._dropped.value)

    def offer(self, result: Result) -> None:
        """Hand ``result`` on without waiting (its data copied: it is pickled later)."""
        result = replace(result, data=np.array(result.data, copy=True))
        with self._cond:
            if len(self._pending) >= self.maxsize:
                self._pending.popleft()
                self._dropped.value += 1
            self._pending.append(result)
            self._cond.notify()
            if self._sender is None:
                self._sender = threading.Thread(target=self._send, name="results", daemon=True)
                self._sender.start()

    def _send(self) -> None:
        """The sender thread: the oldest waiting result into the queue, once it has room."""
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                result = self._pending.popleft()
            try:
                self._queue.put(result, timeout=_DROP_WAIT_S)
            except queue.Full:
                with self._cond:  # back in line; it is the oldest, so it goes first when full
                    self._pending.appendleft(result)
                    if len(self._pending) > self.maxsize:
                        self._pending.popleft()
                        self._dropped.value += 1

    def take_all(self) -> list[Result]:
        """Every result waiting, oldest first (the reader's side)."""
        taken: list[Result] = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken
            except (EOFError, OSError):  # the producer died in the middle of a result
                return taken

    def producer_started(self) -> None:
        """The reader's side, once the producer's process runs: close this process's copy of
        the pipe's sending end, so that a result cut short by the producer's death reads as the
        end of the pipe instead of a wait for bytes that never come."""
        writer = getattr(self._queue, "_writer", None)
        if writer is not None:
            writer.close()

    def producer_exits(self) -> None:
        """The producer's process may exit without flushing what the reader will never take."""
        self._queue.cancel_join_thread()

    def close(self) -> None:
        self.take_all()
        self._queue.close()
        self._queue.cancel_join_thread()


class LocalResultQueue:
    """The same policy for a producer in a thread of this process (no pickling)."""

    def __init__(self, maxsize: int = 8) -> None:
        self.maxsize = maxsize
        self._items: collections.deque[Result] = collections.deque()
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def dropped(self) -> int:
        return self._dropped

    def offer(self, result: Result) -> None:
        result = replace(result, data=np.array(result.data, copy=True))
        with self._lock:
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self._dropped += 1
            self._items.append(result)

    def take_all(self) -> list[Result]:
        with self._lock:
            taken = list(self._items)
            self._items.clear()
        return taken

    def producer_exits(self) -> None:
        """Nothing to flush: the producer is a thread of this process."""

    def close(self) -> None:
        self.take_all()


# -- shared memory --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRingSpec:
    """What the processor process needs to attach (picklable at any time)."""

    shm_name: str
    n_slots: int
    slot_bytes: int

    def attach(self) -> ResultRing:
        return ResultRing(self, attach_block(self.shm_name), owner=False)


def _layout(n_slots: int, slot_bytes: int) -> tuple[int, int, int, int]:
    """(seq offset, meta offset, data offset, stride) in the block."""
    seq_offset = _HEADER_BYTES
    meta_offset = _round_up(seq_offset + 8 * n_slots, 64)
    data_offset = _round_up(meta_offset + n_slots * RESULT_META.itemsize, _PAGE)
    return seq_offset, meta_offset, data_offset, _round_up(max(slot_bytes, 1), _PAGE)


class ResultRing:
    """Result slots in shared memory: one writer that never waits, latest-only readers."""

    def __init__(self, spec: ResultRingSpec, shm: SharedMemory, owner: bool) -> None:
        self.spec = spec
        self._shm: SharedMemory | None = shm
        self._owner = owner
        n = spec.n_slots
        seq_offset, meta_offset, data_offset, stride = _layout(n, spec.slot_bytes)
        buf = shm.buf
        self._header = np.ndarray((_HEADER_BYTES // 8,), np.int64, buffer=buf)
        self._seq = np.ndarray((n,), np.int64, buffer=buf, offset=seq_offset)
        self._meta = np.ndarray((n,), RESULT_META, buffer=buf, offset=meta_offset)
        self._raw = [
            np.ndarray((spec.slot_bytes,), np.uint8, buffer=buf, offset=data_offset + i * stride)
            for i in range(n)
        ]
        self.torn_retries = 0  # copies thrown away because the writer was rewriting the slot

    @classmethod
    def create(cls, n_slots: int, slot_bytes: int) -> ResultRing:
        if n_slots < 2:
            raise ValueError(f"a result ring needs at least 2 slots, got {n_slots}")
        if slot_bytes < 1:
            raise ValueError(f"result slots need a positive size, got {slot_bytes}")
        _, _, data_offset, stride = _layout(n_slots, slot_bytes)
        shm = create_block("results", uuid.uuid4().hex[:12], data_offset + n_slots * stride)
        return cls(ResultRingSpec(shm.name, n_slots, slot_bytes), shm, owner=True)

    @property
    def name(self) -> str:
        return self.spec.shm_name

    @property
    def published(self) -> int:
        """Results written so far."""
        return int(self._header[_PUBLISHED])

    # -- the writer ---------------------------------------------------------------------------

    def publish(self, result: Result) -> None:
        """Write ``result`` into the next slot; ResultTooLarge when it cannot fit."""
        data = np.asarray(result.data, order="C")  # (not ascontiguousarray: it makes 0-d 1-d)
        check_fits(data, self.spec.slot_bytes)
        position = int(self._header[_PUBLISHED])
        index = position % self.spec.n_slots
        self._seq[index] += 1  # odd: being written, readers keep away
        meta = self._meta[index]
        meta["seq"], meta["frame_id"], meta["run"] = position, result.frame_id, result.run
        meta["volume"], meta["version"] = result.volume, result.version
        meta["frames"] = result.frames
        meta["frame_host_ts"], meta["done_ts"] = result.frame_host_ts, result.done_ts
        meta["per_volume"], meta["ndim"] = int(result.per_volume), data.ndim
        meta["shape"] = list(data.shape) + [0] * (MAX_DIMS - data.ndim)
        meta["dtype"], meta["nbytes"] = data.dtype.str.encode(), data.nbytes
        self._raw[index][: data.nbytes] = data.reshape(-1).view(np.uint8)
        self._seq[index] += 1  # even: whole again
        self._header[_PUBLISHED] = position + 1

    def offer(self, result: Result) -> None:
        """The sink interface of the queues: never waits, overwrites the oldest slot."""
        self.publish(result)

    # -- latest-only readers -------------------------------------------------------------------

    def read_latest(self, after: int = -1) -> Result | None:
        """A copy of the newest whole result numbered above ``after``, or None (nothing newer,
        or the writer kept rewriting the slot). Never waits, never delays the writer."""
        for _ in range(_READ_ATTEMPTS):
            published = int(self._header[_PUBLISHED])
            if published == 0 or published - 1 <= after:
                return None
            index = (published - 1) % self.spec.n_slots
            before = int(self._seq[index])
            if before % 2:
                continue
            meta = self._meta[index].copy()
            raw = self._raw[index][: int(meta["nbytes"])].copy()
            if int(self._seq[index]) != before:
                self.torn_retries += 1
                continue
            return _result_of(meta, raw)
        return None

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Detach; the owner also removes the block. Safe to call twice."""
        if self._shm is None:
            return
        shm, self._shm = self._shm, None
        del self._header, self._seq, self._meta, self._raw
        release_block(shm, unlink=self._owner)


def check_fits(data: np.ndarray, slot_bytes: int) -> None:
    if data.dtype.hasobject or data.dtype.fields is not None or data.dtype.kind not in "biuf":
        raise ResultTooLarge(f"a result must be a plain numeric array, not {data.dtype}")
    if data.ndim > MAX_DIMS:
        raise ResultTooLarge(f"a result has at most {MAX_DIMS} dimensions, got {data.shape}")
    if data.nbytes > slot_bytes:
        raise ResultTooLarge(
            f"a result of {data.nbytes} bytes ({data.shape} {data.dtype}) exceeds the result "
            f"slots of {slot_bytes} bytes (processing.max_result_mb)"
        )


def _result_of(meta: np.void, raw: np.ndarray) -> Result:
    ndim = int(meta["ndim"])
    shape = tuple(int(n) for n in meta["shape"][:ndim])
    data = raw.view(np.dtype(meta["dtype"].decode())).reshape(shape)
    return Result(
        data=data,
        seq=int(meta["seq"]),
        frame_id=int(meta["frame_id"]),
        run=int(meta["run"]),
        volume=int(meta["volume"]),
        version=int(meta["version"]),
        frames=int(meta["frames"]),
        per_volume=bool(meta["per_volume"]),
        frame_host_ts=float(meta["frame_host_ts"]),
        done_ts=float(meta["done_ts"]),
    )


def _round_up(nbytes: int, to: int) -> int:
    return (nbytes + to - 1) // to * to

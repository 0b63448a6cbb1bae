"""A shared-memory ring of fixed-size slots: one producer, one consumer, latest-only readers.

Frames and volumes never travel pickled or copied: the producer fills a slot in place (a camera
reads straight into it), the consumer gets a numpy view of the same memory and releases it when
done; it may also peek at committed slots it has not read yet, which stay its own. Each slot
carries a record of a structured dtype chosen by the creator (frame id and timestamps, or a
volume's frame table), stored in the same block.

Hand-over uses two spawn-context semaphores, ``free`` (slots the producer may take) and ``ready``
(committed slots the consumer may take), so a waiting side sleeps in the kernel and wakes on the
other side's post instead of spinning. The policy is chosen at creation: the camera's ring never
makes its producer wait (a frame that finds the ring full is refused and counted as dropped), the
volume ring makes its producer wait for the saver (nothing is ever dropped there).

Counters live in the block, so any attached process can display them. Each counter has exactly
one writing process (the producer: acquired, committed, dropped, closed and the per-slot sequence
numbers; the consumer: read, released), so aligned 8-byte loads and stores need no lock.

Memory ordering: the producer writes data and metadata first and publishes the slot afterwards
(sequence number, then ``committed``, then a semaphore post). Semaphore post/wait are full barriers,
so the consumer always sees a complete slot. Latest-only readers take no lock and rely on x86-64
TSO (stores become visible in program order and loads are not reordered with other loads): a
per-slot sequence number is odd while the producer owns the slot and even once it is committed, so
a reader that sees the same even number before and after its copy got a consistent slot. Writers
that use non-temporal stores must fence before commit (glibc's memcpy does).

A Ring object is meant for one thread of each role in a process: the ring itself serialises the
producer against the consumer, not two producers against each other.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import uuid
from dataclasses import dataclass, field
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from lightsheet.runtime.shm import attach_block, create_block, release_block, removed_on_failure

PAGE = 4096  # slots start on page boundaries so in-place writes (DMA, SIMD copies) are aligned
_CACHE_LINE = 64
_HEADER_INTS = 16  # producer counters on the first cache line, consumer counters on the second
_ACQUIRED, _COMMITTED, _DROPPED, _CLOSED = 0, 1, 2, 3  # written by the producer only
_READ, _RELEASED = 8, 9  # written by the consumer only
_SEQ_OFFSET = _HEADER_INTS * 8
_LATEST_ATTEMPTS = 4

_log = logging.getLogger(__name__)


class EndOfStream(Exception):
    """The producer called close_writing() and every committed slot has been read."""


@dataclass(frozen=True, eq=False)
class Slot:
    """One slot handed to the producer or the consumer; its arrays view the shared block."""

    index: int  # which slot of the ring
    position: int  # how many slots the producer acquired before this one
    data: np.ndarray  # shape slot_shape, writable view into shared memory
    meta: np.ndarray  # 0-d record of the ring's meta dtype, writable view into shared memory


@dataclass(frozen=True)
class RingCounters:
    """A snapshot of the shared counters; fill is what the producer holds or the consumer owes."""

    written: int  # slots acquired by the producer
    committed: int
    read: int  # slots the consumer took (it may hold several before it releases them)
    released: int  # slots the consumer gave back
    dropped: int  # acquisitions refused because the ring was full (non-blocking ring only)
    fill: int  # written - released
    capacity: int
    closed: bool  # the producer signalled end of stream


@dataclass(frozen=True)
class RingSpec:
    """Everything a child process needs to attach; pass it as a spawn-time process argument.

    The semaphores inside can only be pickled while a process is being spawned, which is how the
    Supervisor hands rings to its children.
    """

    shm_name: str
    slot_shape: tuple[int, ...]
    dtype: str
    n_slots: int
    meta_dtype: np.dtype
    blocking: bool
    free: Any = field(repr=False, compare=False)  # multiprocessing Semaphore, starts at n_slots
    ready: Any = field(repr=False, compare=False)  # multiprocessing Semaphore, starts at 0

    @property
    def slot_nbytes(self) -> int:
        return int(np.prod(self.slot_shape)) * np.dtype(self.dtype).itemsize

    def attach(self) -> Ring:
        """Map the ring in this process; closing it later never removes the block."""
        return Ring(self, attach_block(self.shm_name), owner=False)


@dataclass(frozen=True)
class _Layout:
    """Byte offsets in the block: header, sequence numbers, metadata records, page-aligned slots."""

    meta_offset: int
    data_offset: int
    stride: int
    size: int

    @classmethod
    def of(cls, n_slots: int, slot_nbytes: int, meta_dtype: np.dtype) -> _Layout:
        meta_offset = _round_up(_SEQ_OFFSET + 8 * n_slots, _CACHE_LINE)
        data_offset = _round_up(meta_offset + n_slots * meta_dtype.itemsize, PAGE)
        stride = _round_up(slot_nbytes, PAGE)
        return cls(meta_offset, data_offset, stride, data_offset + n_slots * stride)


class Ring:
    """A view of a ring's shared block; the creator owns it and unlinks it on close."""

    def __init__(self, spec: RingSpec, shm: SharedMemory, owner: bool) -> None:
        layout = _Layout.of(spec.n_slots, spec.slot_nbytes, spec.meta_dtype)
        if shm.size < layout.size:
            release_block(shm, unlink=False)
            raise ValueError(
                f"shared memory {spec.shm_name} has {shm.size} bytes, its spec needs {layout.size}"
            )
        self.spec = spec
        self._shm: SharedMemory | None = shm
        self._owner = owner
        self._free = spec.free
        self._ready = spec.ready
        self._n = spec.n_slots
        buf = shm.buf
        self._header = np.ndarray((_HEADER_INTS,), dtype=np.int64, buffer=buf)
        self._seq = np.ndarray((self._n,), dtype=np.int64, buffer=buf, offset=_SEQ_OFFSET)
        self._meta = np.ndarray(
            (self._n,), dtype=spec.meta_dtype, buffer=buf, offset=layout.meta_offset
        )
        self._blank_meta = np.zeros((), dtype=spec.meta_dtype)
        first, stride = layout.data_offset, layout.stride
        self._slot_data = [
            np.ndarray(spec.slot_shape, spec.dtype, buffer=buf, offset=first + i * stride)
            for i in range(self._n)
        ]
        self._slot_meta = [self._meta[i, ...] for i in range(self._n)]

    @classmethod
    def create(
        cls,
        purpose: str,
        slot_shape: tuple[int, ...],
        dtype: Any,
        n_slots: int,
        meta_dtype: Any,
        blocking: bool,
    ) -> Ring:
        """Create and own a new ring; hand ``ring.spec`` to the processes that attach."""
        shape = tuple(int(n) for n in slot_shape)
        data_dtype = np.dtype(dtype)
        meta = np.dtype(meta_dtype)
        if n_slots < 1:
            raise ValueError(f"a ring needs at least one slot, got {n_slots}")
        if not shape or min(shape) < 1:
            raise ValueError(f"slot shape {shape} must have positive dimensions")
        if data_dtype.hasobject or data_dtype.fields is not None:
            raise ValueError(f"slot dtype {data_dtype} must be a plain numeric type")
        if meta.names is None or meta.hasobject:
            raise ValueError(f"meta dtype {meta} must be a structured dtype without objects")
        slot_nbytes = int(np.prod(shape)) * data_dtype.itemsize
        size = _Layout.of(n_slots, slot_nbytes, meta).size
        shm = create_block(purpose, uuid.uuid4().hex[:12], size, allocate=True)
        with removed_on_failure(shm):
            ctx = mp.get_context("spawn")
            spec = RingSpec(
                shm.name, shape, data_dtype.str, n_slots, meta, blocking,
                ctx.Semaphore(n_slots), ctx.Semaphore(0),
            )  # fmt: skip
            _log.debug(
                "ring %s: %d slots of %s %s, %s producer",
                shm.name, n_slots, shape, data_dtype, "blocking" if blocking else "non-blocking",
            )  # fmt: skip
            return cls(spec, shm, owner=True)

    @staticmethod
    def slots_for_budget(slot_nbytes: int, budget_bytes: int, minimum: int = 2) -> int:
        """How many page-aligned slots fit a memory budget, but never fewer than ``minimum``."""
        if slot_nbytes < 1:
            raise ValueError(f"slot size must be positive, got {slot_nbytes}")
        return max(minimum, budget_bytes // _round_up(slot_nbytes, PAGE))

    # -- producer -----------------------------------------------------------------------------

    def try_acquire_write(self) -> Slot | None:
        """A free slot, or None (counted as dropped) when the ring is full; never waits."""
        if self.spec.blocking:
            raise RuntimeError("a blocking ring never drops: use acquire_write(timeout)")
        self._check_writable()
        if not self._free.acquire(False):
            self._header[_DROPPED] += 1
            return None
        return self._take_write_slot()

    def acquire_write(self, timeout: float | None) -> Slot | None:
        """Wait for a free slot; None on timeout so the caller can check its stop event.

        On a non-blocking ring this is for in-band markers (end of a run) that must not be lost.
        """
        self._check_writable()
        if not self._free.acquire(True, _wait_time(timeout)):
            return None
        return self._take_write_slot()

    def commit(self, slot: Slot) -> None:
        """Publish a filled slot to the consumer; slots are committed in the order acquired."""
        self._check_writable()
        header = self._header
        if not header[_COMMITTED] == slot.position < header[_ACQUIRED]:
            raise ValueError(
                f"slot at position {slot.position} is not the oldest one acquired and uncommitted"
            )
        self._seq[slot.index] += 1  # even: consistent again, readable by latest-only readers
        header[_COMMITTED] = slot.position + 1
        self._ready.release()

    def close_writing(self) -> None:
        """Signal end of stream: the consumer drains what was committed, then gets EndOfStream."""
        header = self._header
        if header[_CLOSED]:
            return
        abandoned = int(header[_ACQUIRED] - header[_COMMITTED])
        if abandoned:
            _log.debug("ring %s: end of stream with %d uncommitted slot(s)", self.name, abandoned)
        header[_CLOSED] = 1
        self._ready.release()  # wakes a waiting consumer; the token is kept for later calls

    def _take_write_slot(self) -> Slot:
        header = self._header
        position = int(header[_ACQUIRED])
        index = position % self._n
        self._seq[index] += 1  # odd: being written, latest-only readers skip it
        self._meta[index] = self._blank_meta  # no field carries a value from the slot's last use
        header[_ACQUIRED] = position + 1
        return self._slot_at(position)

    def _slot_at(self, position: int) -> Slot:
        index = position % self._n
        return Slot(index, position, self._slot_data[index], self._slot_meta[index])

    def _check_writable(self) -> None:
        if self._header[_CLOSED]:
            raise RuntimeError(f"ring {self.name}: writing was closed")

    # -- consumer -----------------------------------------------------------------------------

    def acquire_read(self, timeout: float | None) -> Slot | None:
        """The oldest committed slot, or None on timeout.

        Raises EndOfStream once the producer closed writing and every committed slot was read.
        """
        if not self._ready.acquire(True, _wait_time(timeout)):
            return None
        header = self._header
        position = int(header[_READ])
        if position >= header[_COMMITTED]:
            # Every commit posts before this token could be taken, so it is close_writing's.
            self._ready.release()
            raise EndOfStream(f"ring {self.name}: end of stream after {position} slots")
        header[_READ] = position + 1
        return self._slot_at(position)

    @property
    def read_position(self) -> int:
        """The position of the next slot the consumer will read."""
        return int(self._header[_READ])

    def peek(self, position: int) -> Slot | None:
        """The committed, unread slot at ``position`` without taking it (None: not committed yet).

        For a consumer held up elsewhere that looks at what is coming. The producer cannot reuse an
        unread slot, so the view stays valid until the consumer reads and releases it; the
        producer's commit ordering (module docstring) makes a peeked slot complete.
        """
        header = self._header
        if position < header[_READ]:
            raise ValueError(f"slot at position {position} was read already: peek ahead only")
        return None if position >= header[_COMMITTED] else self._slot_at(position)

    def release(self, slot: Slot) -> None:
        """Give a read slot back to the producer; slots are released in the order read."""
        header = self._header
        if not header[_RELEASED] == slot.position < header[_READ]:
            raise ValueError(
                f"slot at position {slot.position} is not the oldest one read and unreleased"
            )
        header[_RELEASED] = slot.position + 1
        self._free.release()

    @property
    def released(self) -> int:
        """Slots the consumer gave back so far: how a producer learns that a slot's reader is done.

        The dispatcher holds frame slots that the saver reads through a volume slot until that
        volume slot is released. The saver's loads of the frame come before its store of this
        counter (x86-64 TSO does not reorder a load with a later store), so a producer that sees
        the count has seen the end of every read of the slots counted.
        """
        return int(self._header[_RELEASED])

    def slot_data(self, index: int) -> np.ndarray:
        """The data of slot ``index``, for a process reading on the consumer's behalf.

        The consumer holds the slot (read, not released) and names it to a helper process through
        another ring; the semaphores of both rings order the producer's writes before the read.
        """
        if not 0 <= index < self._n:
            raise IndexError(f"ring {self.name} has no slot {index} (it has {self._n})")
        data: np.ndarray = self._slot_data[index]
        return data

    # -- latest-only readers ------------------------------------------------------------------

    def read_latest(self, out: np.ndarray) -> np.void | None:
        """Copy the newest committed slot into ``out`` and return a copy of its metadata.

        None when nothing was committed yet or the producer kept overwriting the slot during the
        copy. Never waits, never delays the producer, never takes a slot from the consumer.
        """
        if out.shape != self.spec.slot_shape or out.dtype != np.dtype(self.spec.dtype):
            raise ValueError(
                f"out must be {self.spec.slot_shape} {self.spec.dtype}, got {out.shape} {out.dtype}"
            )
        header, seq = self._header, self._seq
        for _ in range(_LATEST_ATTEMPTS):
            committed = int(header[_COMMITTED])
            if committed == 0:
                return None
            index = (committed - 1) % self._n
            before = int(seq[index])
            if before % 2:
                continue
            np.copyto(out, self._slot_data[index])
            meta: np.void = self._meta[index].copy()
            if int(seq[index]) == before:
                return meta
        return None

    # -- status and lifetime ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.shm_name

    def counters(self) -> RingCounters:
        h = [int(v) for v in self._header]
        return RingCounters(
            written=h[_ACQUIRED],
            committed=h[_COMMITTED],
            read=h[_READ],
            released=h[_RELEASED],
            dropped=h[_DROPPED],
            fill=h[_ACQUIRED] - h[_RELEASED],
            capacity=self._n,
            closed=bool(h[_CLOSED]),
        )

    def close(self) -> None:
        """Detach from the block; the owner also removes it. Safe to call twice."""
        if self._shm is None:
            return
        shm, self._shm = self._shm, None
        del self._header, self._seq, self._meta, self._slot_data, self._slot_meta
        release_block(shm, unlink=self._owner)

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_time(timeout: float | None) -> float | None:
    return None if timeout is None else max(0.0, timeout)


def _round_up(nbytes: int, to: int) -> int:
    return (nbytes + to - 1) // to * to

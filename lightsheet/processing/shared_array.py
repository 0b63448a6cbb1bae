"""Numpy arrays on named shared-memory blocks, so that worker processes change a stack in place
instead of receiving and returning copies of it.

The owner holds a block in a ``with`` statement (or an ``ExitStack``, `held_shared_array`, with
Ctrl-C held until the stack holds it) and unlinks it on every exit path; never from
``__del__``, which runs at an unpredictable moment (while workers still use the block, or not at
all). Workers receive a small picklable `ArrayHandle` and attach to each block once, caching the
mapping until the owner's job ends (`release_attached`).

A block is refused up front when it would not fit in free RAM or in /dev/shm: Linux creates the
block sparse, and only the first write past what tmpfs can hold would find out, with SIGBUS.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import shutil
import threading
from dataclasses import dataclass
from multiprocessing import shared_memory
from types import TracebackType
from typing import Any

import numpy as np
import psutil

from lightsheet.runtime.ctrl_c import ctrl_c_held
from lightsheet.runtime.shm import (
    SHM_DIR,
    attach_block,
    create_block,
    release_block,
    remove_stale_blocks,
    removed_on_failure,
)

# RAM and /dev/shm space left to everything else when a block is admitted.
HEADROOM_BYTES = 256 * 2**20
_log = logging.getLogger(__name__)
_ids = itertools.count()
_lock = threading.Lock()
_cleaned = False
_owned: dict[str, np.ndarray] = {}  # blocks this process owns: used in place, never re-mapped
_attached: dict[str, shared_memory.SharedMemory] = {}


class NotEnoughMemory(MemoryError):
    """A shared array would not fit; the message says how much was asked and what is free."""


@dataclass(frozen=True)
class ArrayHandle:
    """What a worker needs to find an array: block name, shape and dtype (a few bytes)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def reshaped(self, *shape: int | tuple[int, ...]) -> ArrayHandle:
        """The same block seen with another shape of the same size (e.g. volumes as planes)."""
        first = shape[0] if len(shape) == 1 else None
        if isinstance(first, tuple):
            new = tuple(int(n) for n in first)
        else:
            new = tuple(int(n) for n in shape if not isinstance(n, tuple))
        if math.prod(new) != math.prod(self.shape):
            raise ValueError(f"cannot view {self.shape} as {new}")
        return ArrayHandle(self.name, new, self.dtype)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def memory_room() -> tuple[int, int]:
    """(RAM available, space free in /dev/shm) in bytes, before any headroom."""
    ram = psutil.virtual_memory().available
    shm = shutil.disk_usage(SHM_DIR).free if SHM_DIR.is_dir() else ram
    return int(ram), int(shm)


def fits_in_memory(nbytes: int) -> bool:
    """True when ``nbytes`` of shared arrays fit in RAM and /dev/shm with headroom to spare."""
    return nbytes + HEADROOM_BYTES <= min(memory_room())


def check_fits(nbytes: int, what: str = "shared array") -> None:
    """Raise NotEnoughMemory, naming the sizes, when ``nbytes`` would not fit."""
    if fits_in_memory(nbytes):
        return
    ram, shm = memory_room()
    raise NotEnoughMemory(
        f"{what} of {human_bytes(nbytes)} does not fit: {human_bytes(ram)} of RAM available, "
        f"{human_bytes(shm)} free in {SHM_DIR} ({human_bytes(HEADROOM_BYTES)} kept free)"
    )


def clean_start() -> list[str]:
    """Remove blocks left by dead processes, once per process; returns what was removed."""
    global _cleaned
    with _lock:
        if _cleaned:
            return []
        _cleaned = True
    return remove_stale_blocks(_log)


class SharedArray:
    """A numpy array on a block this process owns; the block goes when the ``with`` ends."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | str | type, purpose: str) -> None:
        shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in shape):
            raise ValueError(f"shape must not be negative: {shape}")
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        clean_start()
        check_fits(nbytes, f"shared array {shape} {dtype}")
        self._shm: shared_memory.SharedMemory | None = create_block(
            purpose, next(_ids), max(nbytes, 1)
        )
        with removed_on_failure(self._shm):
            self.array: np.ndarray = np.ndarray(shape, dtype, buffer=self._shm.buf)
            self.handle = ArrayHandle(self._shm.name, shape, dtype.str)
            _owned[self.handle.name] = self.array

    @property
    def name(self) -> str:
        return self.handle.name

    def close(self) -> None:
        """Unmap and unlink the block. Safe to call twice; views taken earlier become invalid."""
        if self._shm is None:
            return
        shm, self._shm = self._shm, None
        _owned.pop(shm.name, None)
        self.array = np.empty((0,), self.array.dtype)
        release_block(shm, unlink=True)

    def __enter__(self) -> SharedArray:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def create_shared_array(
    shape: tuple[int, ...], dtype: np.dtype | str | type, purpose: str = "array"
) -> SharedArray:
    """A zero-filled array on a new named block; use it as a context manager.

    Raises NotEnoughMemory when it would not fit in free RAM or /dev/shm.
    """
    return SharedArray(shape, dtype, purpose)


def held_shared_array(
    owner: contextlib.ExitStack, shape: tuple[int, ...], dtype: np.dtype | str | type,
    purpose: str = "array",
) -> SharedArray:  # fmt: skip
    """A new shared array that ``owner`` unlinks when it closes, made and entered with Ctrl-C
    held: a block made but not yet entered belonged to nobody, and a Ctrl-C there left it to
    Python's resource tracker at exit, with a "leaked shared_memory objects" warning."""
    with ctrl_c_held():
        return owner.enter_context(SharedArray(shape, dtype, purpose))


def attach(handle: ArrayHandle | SharedArray) -> np.ndarray:
    """The array behind ``handle``: the owner's own array, or a mapping attached once and
    cached in this process until `release_attached`."""
    if isinstance(handle, SharedArray):
        handle = handle.handle
    owned = _owned.get(handle.name)
    buffer: Any
    if owned is not None:
        buffer = owned.reshape(-1).view(np.uint8)
    else:
        shm = _attached.get(handle.name)
        if shm is None:
            shm = attach_block(handle.name, map_pages=False)  # a worker touches only its items
            _attached[handle.name] = shm
        buffer = shm.buf
    return np.ndarray(handle.shape, np.dtype(handle.dtype), buffer=buffer)


def release_attached() -> int:
    """Close every cached mapping of another process's block; returns how many were closed."""
    count = 0
    while _attached:
        _, shm = _attached.popitem()
        release_block(shm, unlink=False)
        count += 1
    return count


def attached_names() -> list[str]:
    """Blocks of other processes this process maps now (for tests and diagnostics)."""
    return sorted(_attached)

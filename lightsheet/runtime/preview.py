"""The preview buffer: the latest frame or volume only, for the viewer; it never slows acquisition.

One shared slot guarded by a sequence counter (a seqlock): the writer makes the counter odd,
writes, makes it even again; a reader copies and keeps the copy only if the counter was even and
unchanged. The writer never waits for readers, and a reader that loses the race simply tries again
or skips that update — the preview may skip, the saver never does. Stores are ordered on x86 (TSO),
which is what the counter relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from lightsheet.runtime.shm import attach_block, create_block, release_block

_HEADER = np.dtype(
    [
        ("seq", "<i8"),
        ("index", "<i8"),
        ("ndim", "<i8"),
        ("shape", "<i8", (3,)),
        ("dark_seq", "<i8"),
        ("dark_shape", "<i8", (2,)),
    ]
)
_HEADER_BYTES = 4096


@dataclass(frozen=True)
class PreviewSpec:
    """Picklable description handed to the dispatcher and any reader."""

    shm_name: str
    capacity: int  # elements of the image slot
    dark_capacity: int  # elements of the dark-frame slot
    dtype: str

    def attach(self) -> PreviewBuffer:
        return PreviewBuffer(self, attach_block(self.shm_name), owner=False)


class PreviewBuffer:
    def __init__(self, spec: PreviewSpec, shm: SharedMemory, owner: bool) -> None:
        self.spec = spec
        self._shm: SharedMemory | None = shm
        self._owner = owner
        itemsize = np.dtype(spec.dtype).itemsize
        buf = shm.buf
        self._header = np.ndarray((), dtype=_HEADER, buffer=buf)
        self._data = np.ndarray(
            (spec.capacity,), dtype=spec.dtype, buffer=buf, offset=_HEADER_BYTES
        )
        dark_offset = _HEADER_BYTES + _round_up(spec.capacity * itemsize)
        self._dark = np.ndarray(
            (spec.dark_capacity,), dtype=spec.dtype, buffer=buf, offset=dark_offset
        )

    @classmethod
    def create(cls, ident: str, capacity: int, dark_capacity: int, dtype: str) -> PreviewBuffer:
        itemsize = np.dtype(dtype).itemsize
        size = _HEADER_BYTES + _round_up(capacity * itemsize) + _round_up(dark_capacity * itemsize)
        shm = create_block("preview", ident, size)
        spec = PreviewSpec(shm.name, capacity, dark_capacity, np.dtype(dtype).str)
        buffer = cls(spec, shm, owner=True)
        buffer._header[()] = np.zeros((), dtype=_HEADER)
        return buffer

    # -- writer (the dispatcher) --------------------------------------------------------------

    def publish(self, image: np.ndarray, index: int) -> bool:
        """Store a (z, y, x) or (y, x) image as the latest; False if it does not fit."""
        if image.size > self.spec.capacity or image.ndim > 3:
            return False
        header = self._header
        header["seq"] += 1  # odd: writing
        header["index"] = index
        header["ndim"] = image.ndim
        header["shape"][:] = (*image.shape, *([0] * (3 - image.ndim)))
        self._data[: image.size].reshape(image.shape)[...] = image
        header["seq"] += 1  # even: consistent
        return True

    def publish_dark(self, dark: np.ndarray) -> bool:
        if dark.size > self.spec.dark_capacity or dark.ndim != 2:
            return False
        self._dark[: dark.size] = dark.reshape(-1)
        self._header["dark_shape"][:] = dark.shape
        self._header["dark_seq"] += 1
        return True

    # -- readers (the viewer) -----------------------------------------------------------------

    def sequence(self) -> int:
        """Changes whenever a new image is published; cheap to poll."""
        return int(self._header["seq"])

    def read_latest(self, attempts: int = 3) -> tuple[np.ndarray, int, int] | None:
        """A copy of the newest image with its index and sequence, or None (none yet, or torn)."""
        header = self._header
        for _ in range(attempts):
            seq = int(header["seq"])
            if seq == 0 or seq % 2:
                continue
            ndim = int(header["ndim"])
            shape = tuple(int(n) for n in header["shape"][:ndim])
            index = int(header["index"])
            size = int(np.prod(shape))
            copy = self._data[:size].reshape(shape).copy()
            if int(header["seq"]) == seq:
                return copy, index, seq
        return None

    def read_dark(self) -> np.ndarray | None:
        if int(self._header["dark_seq"]) == 0:
            return None
        shape = tuple(int(n) for n in self._header["dark_shape"])
        dark: np.ndarray = self._dark[: shape[0] * shape[1]].reshape(shape).copy()
        return dark

    def close(self) -> None:
        if self._shm is None:
            return
        del self._header, self._data, self._dark
        release_block(self._shm, unlink=self._owner)
        self._shm = None


def _round_up(nbytes: int, to: int = 4096) -> int:
    return (nbytes + to - 1) // to * to

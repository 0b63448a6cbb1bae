"""The preview buffer: the latest frame or volume only, for the viewer; it never slows acquisition.

Two image slots: the *front* one, which readers copy, and the *back* one, which the writer fills
out of their sight, plane by plane as a volume's frames arrive (``back``). ``commit`` makes the
back slot the front: publishing a volume then costs its last plane, not a copy of the whole
volume at its end (the camera-to-preview latency). A sequence counter guards the switch (a
seqlock): the writer makes the counter odd, writes the header (front slot, shape, index), makes
it even again. A reader copies the front slot and keeps the copy only if the counter was even and
unchanged: once the counter moved, the slot it copied may already be the writer's back slot.
The writer never waits for readers, and a reader that loses the race tries again or skips that
update — the preview may skip, the saver never does. Stores are ordered on x86 (TSO), which is
what the counter relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from lightsheet.runtime.shm import attach_block, create_block, release_block, removed_on_failure

_HEADER = np.dtype(
    [
        ("seq", "<i8"),
        ("index", "<i8"),
        ("ndim", "<i8"),
        ("shape", "<i8", (3,)),
        ("dark_seq", "<i8"),
        ("dark_shape", "<i8", (2,)),
        ("front", "<i8"),  # the slot readers copy (0 or 1)
    ]
)
_HEADER_BYTES = 4096


@dataclass(frozen=True)
class PreviewSpec:
    """Picklable description handed to the dispatcher and any reader."""

    shm_name: str
    capacity: int  # elements of each of the two image slots
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
        slot_bytes = _round_up(spec.capacity * itemsize)
        offsets = (_HEADER_BYTES, _HEADER_BYTES + slot_bytes)
        self._slots = tuple(
            np.ndarray((spec.capacity,), dtype=spec.dtype, buffer=buf, offset=offset)
            for offset in offsets
        )
        dark_offset = _HEADER_BYTES + 2 * slot_bytes
        self._dark = np.ndarray(
            (spec.dark_capacity,), dtype=spec.dtype, buffer=buf, offset=dark_offset
        )

    @classmethod
    def create(cls, ident: str, capacity: int, dark_capacity: int, dtype: str) -> PreviewBuffer:
        itemsize = np.dtype(dtype).itemsize
        size = (
            _HEADER_BYTES + 2 * _round_up(capacity * itemsize) + _round_up(dark_capacity * itemsize)
        )
        shm = create_block("preview", ident, size, allocate=True)
        with removed_on_failure(shm):
            spec = PreviewSpec(shm.name, capacity, dark_capacity, np.dtype(dtype).str)
            buffer = cls(spec, shm, owner=True)
            buffer._header[()] = np.zeros((), dtype=_HEADER)
            return buffer

    # -- writer (the dispatcher) --------------------------------------------------------------

    def back(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """The back slot shaped as a (z, y, x) or (y, x) image, for the writer to fill before
        `commit`; None if it does not fit. Readers never see it until then."""
        size = int(np.prod(shape))
        if size > self.spec.capacity or not 1 < len(shape) <= 3:
            return None
        slot = self._slots[1 - int(self._header["front"])]
        view: np.ndarray = slot[:size].reshape(shape)
        return view

    def commit(self, index: int, shape: tuple[int, ...]) -> None:
        """Show the back slot (filled through `back` with this shape) as the latest image."""
        header = self._header
        header["seq"] += 1  # odd: switching
        header["front"] = 1 - int(header["front"])
        header["index"] = index
        header["ndim"] = len(shape)
        header["shape"][:] = (*shape, *([0] * (3 - len(shape))))
        header["seq"] += 1  # even: consistent

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
            copy = self._slots[int(header["front"])][:size].reshape(shape).copy()
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
        del self._header, self._slots, self._dark
        release_block(self._shm, unlink=self._owner)
        self._shm = None


def _round_up(nbytes: int, to: int = 4096) -> int:
    return (nbytes + to - 1) // to * to

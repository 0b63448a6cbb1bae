"""FrameViews for every camera: natively where the driver receives into lent memory (Aravis), else
over ``read_into``, so the camera process needs one loop whatever the camera.

``ViewQueue`` is the bookkeeping both share: which views are queued, in order, with their tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import numpy as np

from lightsheet.hardware.camera.protocol import (
    Camera,
    CameraError,
    FrameInfo,
    FrameViews,
    LostFrame,
)


def check_view(camera: Camera, view: np.ndarray) -> int:
    """The address of ``view`` if a frame of ``camera`` can land in it in place; else one clear
    error. The address identifies the memory across queueings."""
    if not isinstance(view, np.ndarray):
        raise CameraError(f"a view must be a numpy array (got {type(view).__name__})")
    if view.dtype != camera.dtype or view.shape != camera.frame_shape:
        raise CameraError(
            f"view is {view.dtype} {view.shape}, the camera delivers "
            f"{camera.dtype} {camera.frame_shape}"
        )
    if not view.flags.c_contiguous or not view.flags.writeable:
        raise CameraError("a view must be C-contiguous and writable")
    return int(view.ctypes.data)


class ViewQueue:
    """Queued views in order: (token, address, view)."""

    def __init__(self) -> None:
        self.entries: deque[tuple[Hashable, int, np.ndarray]] = deque()

    def add(self, camera: Camera, view: np.ndarray, token: Hashable) -> int:
        address = check_view(camera, view)
        if any(address == queued for _, queued, _ in self.entries):
            raise CameraError("this view is already queued")
        self.entries.append((token, address, view))
        return address

    def __len__(self) -> int:
        return len(self.entries)


class ReadIntoViews(FrameViews):
    """FrameViews over ``read_into``: the oldest queued view is read into, one frame at a time.

    A frame that arrives while no view is queued is read into a scratch buffer and counted in
    ``frames_lost``, as the camera process counts a frame that finds the ring full; so are the
    frames a jump in the camera's frame ids skips.
    """

    def __init__(self, camera: Camera) -> None:
        self._camera = camera
        self._queue = ViewQueue()
        self._scratch: np.ndarray | None = None
        self._lost = 0
        self._last_id = -1

    def queue_view(self, view: np.ndarray, token: Hashable) -> None:
        self._queue.add(self._camera, view, token)

    def next_filled(self, timeout_s: float) -> tuple[Hashable, FrameInfo | LostFrame] | None:
        entries = self._queue.entries
        if not entries:
            self._read_without_view(timeout_s)
            return None
        token, _, view = entries[0]
        info = self._camera.read_into(view, timeout_s)
        if info is None:
            return None
        entries.popleft()
        self._count_skipped(info.frame_id)
        return token, info

    def release_views(self) -> None:
        if self._camera.is_running:
            raise CameraError("views can only be released while the camera is stopped")
        self._queue.entries.clear()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def frames_lost(self) -> int:
        return self._lost

    def _read_without_view(self, timeout_s: float) -> None:
        shape = self._camera.frame_shape
        if self._scratch is None or self._scratch.shape != shape:
            self._scratch = np.empty(shape, dtype=self._camera.dtype)
        info = self._camera.read_into(self._scratch, timeout_s)
        if info is not None:
            self._count_skipped(info.frame_id)
            self._lost += 1

    def _count_skipped(self, frame_id: int) -> None:
        # Ids count from 0 at every start, so a smaller id means a new run, not a gap.
        if frame_id > self._last_id:
            self._lost += frame_id - self._last_id - 1
        self._last_id = frame_id


def frame_views(camera: Camera) -> FrameViews:
    """The camera itself when its driver fills lent memory in place, else ``ReadIntoViews``."""
    return camera if isinstance(camera, FrameViews) else ReadIntoViews(camera)

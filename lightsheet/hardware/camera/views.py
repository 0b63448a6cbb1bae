"""FrameViews for every camera: natively where the driver receives into lent memory, else over
``read_into``, so the camera process needs one loop whatever the camera.

``ViewQueue`` is the bookkeeping both share: which views are lent and which are queued, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from lightsheet.hardware.camera.protocol import (
    Camera,
    CameraError,
    FrameInfo,
    FrameViews,
    LostFrame,
)


def check_views(camera: Camera, views: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The views, if every one can take a frame of ``camera`` in place; else one clear error."""
    if camera.is_running:
        raise CameraError("views can only be attached or detached while the camera is stopped")
    checked = list(views)
    if not checked:
        raise CameraError("attach at least one view")
    for index, view in enumerate(checked):
        if not isinstance(view, np.ndarray):
            raise CameraError(f"view {index} must be a numpy array (got {type(view).__name__})")
        if view.dtype != camera.dtype or view.shape != camera.frame_shape:
            raise CameraError(
                f"view {index} is {view.dtype} {view.shape}, the camera delivers "
                f"{camera.dtype} {camera.frame_shape}"
            )
        if not view.flags.c_contiguous or not view.flags.writeable:
            raise CameraError(f"view {index} must be C-contiguous and writable")
    return checked


class ViewQueue:
    """Lent views and the order in which they were queued."""

    def __init__(self) -> None:
        self.views: list[np.ndarray] = []
        self.order: deque[int] = deque()

    def attach(self, views: list[np.ndarray]) -> None:
        self.views = views
        self.order.clear()

    def queue(self, index: int) -> None:
        if not self.views:
            raise CameraError("no views attached: call attach_views first")
        if not isinstance(index, int) or not 0 <= index < len(self.views):
            raise CameraError(f"view index {index!r} is not one of 0..{len(self.views) - 1}")
        if index in self.order:
            raise CameraError(f"view {index} is already queued")
        self.order.append(index)

    def detach(self) -> None:
        self.views = []
        self.order.clear()


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

    def attach_views(self, views: Sequence[np.ndarray]) -> None:
        self._queue.attach(check_views(self._camera, views))

    def queue_view(self, index: int) -> None:
        self._queue.queue(index)

    def next_filled(self, timeout_s: float) -> tuple[int, FrameInfo | LostFrame] | None:
        order = self._queue.order
        if not order:
            self._read_without_view(timeout_s)
            return None
        info = self._camera.read_into(self._queue.views[order[0]], timeout_s)
        if info is None:
            return None
        self._count_skipped(info.frame_id)
        return order.popleft(), info

    def detach_views(self) -> None:
        if self._camera.is_running:
            raise CameraError("views can only be detached while the camera is stopped")
        self._queue.detach()

    @property
    def queued(self) -> int:
        return len(self._queue.order)

    @property
    def frames_lost(self) -> int:
        """Frames read while no view was queued, since the views were attached."""
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

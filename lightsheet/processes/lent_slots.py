"""Ring slots lent to a camera that receives frames straight into memory it is given.

Slots are taken from the frame ring in order (``acquire_write(0)``: a missing free slot is not a
drop yet) and lent to the camera's ``FrameViews``; the camera hands them back filled, or lost,
in the same order, so they can be committed in the order the ring requires. A frame that arrived
while no slot was lent (the ring was full) is a drop, counted from the camera's own count. When
the camera stops, every slot still lent is committed as VOID, so the ring stays in order.
"""

from __future__ import annotations

from collections import deque

from lightsheet.hardware.camera.protocol import Camera, FrameInfo, FrameViews, LostFrame
from lightsheet.processes.frames import KIND_VOID, frame_view
from lightsheet.runtime.ring import Ring, Slot

MAX_LENT = 16


class LentSlots:
    def __init__(self, camera: Camera, views: FrameViews, ring: Ring) -> None:
        self._camera = camera
        self._views = views
        self._ring = ring
        self._slots: deque[Slot] = deque()
        self._depth = max(1, min(MAX_LENT, ring.spec.n_slots // 2))
        self._lost_counted = views.frames_lost
        self._last_id = -1

    @classmethod
    def for_camera(cls, camera: Camera, ring: Ring) -> LentSlots | None:
        """Lending for a camera that receives into lent memory; None: it uses ``read_into``."""
        return cls(camera, camera, ring) if isinstance(camera, FrameViews) else None

    def lend(self) -> None:
        height, width = self._camera.frame_shape
        while self._views.queued < self._depth:
            slot = self._ring.acquire_write(0)
            if slot is None:
                return  # the ring is full: the frames that find no slot are drops
            self._views.queue_view(frame_view(slot.data, height, width), slot)
            self._slots.append(slot)

    def next_filled(self, timeout_s: float) -> tuple[Slot, FrameInfo | None] | None:
        """The oldest lent slot and its frame (None: the camera lost it), or None on timeout."""
        handed = self._views.next_filled(timeout_s)
        if handed is None:
            return None
        token, result = handed
        slot = self._slots.popleft()
        if token is not slot:
            raise RuntimeError("the camera handed slots back out of order")
        if isinstance(result, LostFrame):
            self._lost_counted += 1  # a gap the dispatcher records, not a drop
            self._last_id = max(self._last_id, result.frame_id)
            return slot, None
        if result.frame_id > self._last_id + 1:  # frames the camera's count skipped: gaps
            self._lost_counted += result.frame_id - self._last_id - 1
        self._last_id = result.frame_id
        return slot, result

    def take_drops(self) -> int:
        """Frames that arrived while no slot was lent, since the last call."""
        lost = self._views.frames_lost
        drops = max(lost - self._lost_counted, 0)
        self._lost_counted = lost
        return drops

    def void(self, slot: Slot) -> None:
        slot.meta["kind"] = KIND_VOID
        self._ring.commit(slot)

    def take_back(self) -> None:
        """After the camera stopped: every lent slot back, committed as VOID, in order."""
        self._views.release_views()
        while self._slots:
            self.void(self._slots.popleft())
        self._last_id = -1
        self._lost_counted = self._views.frames_lost

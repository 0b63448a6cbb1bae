"""Frame-ring slots the dispatcher has read and not given back yet: the saver writes from them.

A volume no longer needs its frames copied into a volume slot: its volume slot names the frame
slots its planes are in (``frame_slot`` in the volume metadata) and the saver writes each plane
straight from the frame ring. Those frame slots stay held until the saver has released the volume
slot that names them; the ring takes slots back only in the order they were read, so every slot
read after a held one (a frame that was copied, a marker, a preview frame) waits behind it.

The rule that keeps the camera going: a frame is referenced only when the frame ring has room
for two more volumes besides everything held (``can_reference``). The frames of the volume being
assembled and of the volumes the saver is writing are then never all of the ring, and the camera
always finds a slot as soon as the saver moves on. Otherwise, and whenever the dark frame is
subtracted (the saved pixels are not the camera's), the frame is copied into its volume slot as
before and its slot is free as soon as the slots before it are.
"""

from __future__ import annotations

from collections import deque

from lightsheet.runtime.ring import Ring, Slot

FREE = -1  # a held slot no volume refers to: it goes back as soon as the slots before it have


class HeldFrames:
    """Read frame slots in ring order, each with the volume-ring position that must be released
    before it may go back (``FREE``: none)."""

    def __init__(self, frames: Ring) -> None:
        self._ring = frames
        self._held: deque[tuple[Slot, int]] = deque()

    def add(self, slot: Slot, volume_position: int = FREE) -> None:
        self._held.append((slot, volume_position))

    def can_reference(self, planes: int) -> bool:
        """Whether one more frame may stay held for the saver (see the module docstring)."""
        return len(self._held) + 1 + 2 * planes <= self._ring.spec.n_slots

    def give_back(self, volumes_released: int) -> None:
        """Release, oldest first, every slot whose volume the saver is done with."""
        held = self._held
        while held and held[0][1] < volumes_released:  # FREE (-1) is below every count
            self._ring.release(held.popleft()[0])

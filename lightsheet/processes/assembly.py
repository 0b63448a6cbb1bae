"""Volumes of one run assembled by frame id into volume-ring slots: the dispatcher's core.

A frame's place comes only from its id (volume = id // planes, plane = id % planes), never from
the order of arrival, so a missing frame leaves a recorded gap and every later plane stays where
it belongs. A frame whose slot the dispatcher may hold (``held_frames.py``) is not copied at all:
the volume slot names the frame slot and the saver writes the plane from it. Otherwise the frame
is copied into its volume slot, the dark subtraction in that same pass. Everything here belongs
to one run: a new run gets a new ``RunAssembly``, so nothing half-built can ever merge into the
next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lightsheet.processes.commands import RunPlan
from lightsheet.processes.frames import (
    KIND_END,
    KIND_FRAME,
    copy_frame,
    empty_frame_table,
    volume_view,
)
from lightsheet.runtime.ring import Ring, Slot

WRITE_TIMEOUT_S = 0.2


class Stopped(Exception):
    """The process was asked to stop while it waited for the saver."""


@dataclass
class _Volume:
    index: int
    slot: Slot
    table: np.ndarray
    own: np.ndarray  # the volume slot's data as (planes, y, x)
    sources: list[np.ndarray]  # each plane's pixels: a held frame slot's or the volume slot's
    frame_slots: np.ndarray  # the frame-ring slot of each plane, -1: in the volume slot


class RunAssembly:
    """The volumes of one run, handed to the saver in order, gaps recorded.

    ``wait_slot`` is called while waiting for the saver to free a slot (a heartbeat); it raises
    ``Stopped`` when the process must stop. ``beat`` is called for every slot taken: a run of gap
    volumes, each taking a slot the saver frees within ``WRITE_TIMEOUT_S``, is work, not a hang,
    and without it the dispatcher was stopped as "not answering" after 2 s of handing on gaps.
    ``on_plane`` sees each plane once it is placed (plane, volume index, plane index),
    ``on_volume`` each volume's planes before it is handed on: the preview fills its copy plane
    by plane and shows it at the volume's end. ``wait_s`` is how long one wait for a slot lasts
    before ``wait_slot`` is called again (the dispatcher previews queued frames between waits).
    """

    def __init__(
        self,
        plan: RunPlan,
        volumes: Ring,
        log: logging.Logger,
        wait_slot: Callable[[], None],
        on_volume: Callable[[Sequence[np.ndarray], int], None] | None = None,
        on_plane: Callable[[np.ndarray, int, int], None] | None = None,
        beat: Callable[[], None] | None = None,
        wait_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        self.plan = plan
        self._ring = volumes
        self._log = log
        self._wait_slot = wait_slot
        self._on_volume = on_volume
        self._on_plane = on_plane
        self._beat = beat
        self._wait_s = wait_s
        self._current: _Volume | None = None
        self.next_volume = 0
        self.missing = 0  # planes handed on empty
        self.copied = 0  # frames copied into their volume slot instead of referenced
        self.closed = False

    def place(self, frame: np.ndarray, frame_id: int, camera_ts: float, host_ts: float,
              dark: np.ndarray | None, held: Slot | None = None) -> int | None:  # fmt: skip
        """Place one frame; with ``held`` (its frame slot, which the caller keeps until the volume
        slot is released) it is referenced instead of copied. Returns the position of the volume
        slot that refers to ``held``, or None when the frame was copied or ignored."""
        planes = self.plan.planes
        volume, plane = divmod(frame_id, planes)
        if self._current is not None and self._current.index < volume:
            self._push()
        # Whole volumes whose frames never arrived are saved as gaps, keeping t aligned with time.
        while self._current is None and self.next_volume < volume:
            self._open(self.next_volume)
            self._push()
        if self._current is None:
            if volume < self.next_volume:
                self._log.error(
                    "frame %d arrived after its volume %d was saved; ignored", frame_id, volume
                )
                return None
            self._open(volume)
        current = self._current
        assert current is not None
        position: int | None = None
        if held is not None and dark is None and frame.shape == (self.plan.height, self.plan.width):
            current.sources[plane] = frame
            current.frame_slots[plane] = held.index
            position = current.slot.position
        else:
            target = current.own[plane]
            copy_frame(frame, target, dark)
            self.copied += 1
            current.sources[plane] = target
            current.frame_slots[plane] = -1
        row = current.table[plane]
        row["frame_id"] = frame_id
        row["camera_ts"] = camera_ts
        row["host_ts"] = host_ts
        row["present"] = True
        if self._on_plane is not None:
            self._on_plane(current.sources[plane], volume, plane)
        if plane == planes - 1:
            self._push()
        return position

    def finish(self, last_frame_id: int, frames_acquired: int, frames_dropped: int) -> None:
        """The run ended after ``last_frame_id``: hand on every volume up to it, then the end.

        Volumes whose frames were lost at the very end are saved as gaps; planes after the last
        frame were never part of the run. ``frames_acquired`` -1 means the run was cut off
        before the camera said how many frames it took.
        """
        last_volume = last_frame_id // self.plan.planes if last_frame_id >= 0 else -1
        if self._current is not None:
            self._push()
        while self.next_volume <= last_volume:
            self._open(self.next_volume)
            self._push()
        marker = self._take_slot()
        meta = marker.meta
        meta["kind"] = KIND_END
        meta["run"] = self.plan.run
        meta["frames_acquired"] = frames_acquired
        meta["frames_dropped"] = frames_dropped
        meta["frames_missing"] = self.missing
        self._ring.commit(marker)
        self.closed = True

    def flush(self) -> None:
        """Hand on a partly assembled volume (stop, fault): its missing planes are gaps."""
        if self._current is not None:
            self._push()

    # -- internals ------------------------------------------------------------------------------

    def _take_slot(self) -> Slot:
        if self._beat is not None:
            self._beat()
        while True:
            slot = self._ring.acquire_write(self._wait_s)
            if slot is not None:
                return slot
            self._wait_slot()  # waiting on a slow saver is back-pressure, not a hang

    def _open(self, index: int) -> None:
        planes = self.plan.planes
        table = empty_frame_table(index, planes)
        slot = self._take_slot()
        own = volume_view(slot.data, planes, self.plan.height, self.plan.width)
        sources = list(own)
        self._current = _Volume(index, slot, table, own, sources, np.full(planes, -1, np.int32))

    def _push(self) -> None:
        current, self._current = self._current, None
        assert current is not None
        plan = self.plan
        table = current.table
        missing = ~table["present"]
        if missing.any():
            current.own[missing] = 0  # shown as zeros in the preview; the saver skips them
            self.missing += int(missing.sum())
            self._log.warning(
                "volume %d saved with %d missing plane(s): %s",
                current.index,
                int(missing.sum()),
                np.flatnonzero(missing).tolist(),
            )
        meta = current.slot.meta
        meta["kind"] = KIND_FRAME
        meta["volume"] = current.index
        meta["run"] = plan.run
        meta["planes"] = plan.planes
        meta["height"] = plan.height
        meta["width"] = plan.width
        meta["frames"][: plan.planes] = table
        meta["in_frame_slot"][: plan.planes] = current.frame_slots >= 0
        meta["frame_slot"][: plan.planes] = current.frame_slots
        if self._on_volume is not None:
            self._on_volume(current.sources, current.index)
        self._ring.commit(current.slot)
        self.next_volume = current.index + 1

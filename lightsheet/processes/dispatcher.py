"""The dispatcher process: assembles each run's volumes by frame id, feeds the saver and preview.

Acquire mode hands the frames of the current run to a ``RunAssembly`` (``assembly.py``); preview
mode publishes frames (planar) or whole volumes (volumetric) to the latest-only preview buffer,
rate-limited and only when someone watches. In both, a previewed volume is copied plane by
plane as its frames arrive and shown at its end (``preview_fill.py``). ``TakeDark`` averages the
next frames into the dark frame and is answered when it is ready.

In acquire mode a frame is not copied: its frame slot stays held until the saver has written the
plane from it (``held_frames.py``), so the pixels go from the camera's slot to the file with no
copy in between; a frame is copied into its volume slot only when the dark frame is subtracted or
the frame ring is too full to hold more.

At the saver's limit the dispatcher waits for a free volume slot and the camera's frames queue in
the frame ring behind it. The preview does not wait with them: between short waits the dispatcher
looks ahead in the frame ring (``Ring.peek``) and previews the queued frames of the run, so the
preview shows what the camera sees now, not the backlog; a frame previewed that way is not
previewed again when it is placed.

A run ends with the camera's END marker, whose counts go on to the saver with the run's own
gap count. A run that is replaced before its END arrived (a new run started, a stop cut short)
is closed at once: its partial volume handed on with its gaps and an END marked "cut off", so
nothing of it can merge into the next run. On stop, committed frames still in the ring are
drained into their volumes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lightsheet.processes.assembly import RunAssembly, Stopped
from lightsheet.processes.commands import DispatcherState, TakeDark
from lightsheet.processes.frames import KIND_END, KIND_FRAME, KIND_VOID, frame_view
from lightsheet.processes.held_frames import FREE, HeldFrames
from lightsheet.processes.preview_fill import PreviewFill
from lightsheet.processes.status import DispatcherStatus
from lightsheet.runtime.commands import DEFERRED, CommandRefused
from lightsheet.runtime.preview import PreviewBuffer, PreviewSpec
from lightsheet.runtime.ring import EndOfStream, RingSpec, Slot
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

READ_TIMEOUT_S = 0.1
DRAIN_LIMIT = 10_000  # slots read at most while draining on stop
LOOK_AHEAD_S = 0.01  # a wait for the saver between looks at the queued frames for the preview
_NOTHING = (-1, -1)




class DispatcherWorker(Worker):
    def __init__(
        self,
        frames: RingSpec,
        volumes: RingSpec,
        preview: PreviewSpec,
        status: StatusBoard,
        initial: DispatcherState,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("dispatcher", **worker_kwargs)
        self._frames_spec = frames
        self._volumes_spec = volumes
        self._preview_spec = preview
        self._board = status
        self._initial = initial

    def setup(self) -> None:
        self._status = self._board.section(DispatcherStatus)
        self._frames = self._frames_spec.attach()
        self._held = HeldFrames(self._frames)
        self._volumes = self._volumes_spec.attach()
        self._preview: PreviewBuffer = self._preview_spec.attach()
        self._state = DispatcherState("idle", 1, 1, 1)
        self._run: RunAssembly | None = None
        self._peek_at = 0  # the frame-ring position the preview's look-ahead goes on from
        self._previewed = _NOTHING  # (volume, plane) of the last frame previewed by looking ahead
        self._fill = PreviewFill(self._preview)
        self._dark: np.ndarray | None = None
        self._dark_sum: np.ndarray | None = None
        self._dark_count = 0
        # (reply to, frames wanted, camera epoch whose frames are dark)
        self._dark_request: tuple[tuple[int, Any], int, int] | None = None
        self.on_settings(self._initial)

    def on_settings(self, settings: object) -> object:
        if not isinstance(settings, DispatcherState):
            raise CommandRefused(f"not a dispatcher state: {type(settings).__name__}")
        run = self._run
        if run is not None and not run.closed and settings.run != run.plan.run:
            self.log.warning("run %d ended before its end marker: closing it", run.plan.run)
            self._close_run(last_frame_id=-1, frames_acquired=-1, frames_dropped=0)
        if settings.mode == "acquire" and settings.plan is not None and self._run is None:
            self._open_run(settings)
        old = self._state
        if (old.mode, old.run, old.planes, old.height, old.width) != (
            settings.mode, settings.run, settings.planes, settings.height, settings.width
        ):  # fmt: skip
            self._fill.reset()
        self._state = settings
        return None

    def on_command(self, command: object) -> object:
        if not isinstance(command, TakeDark):
            raise CommandRefused(f"unknown dispatcher command {type(command).__name__}")
        if command.frames < 1:
            raise CommandRefused("a dark frame needs at least one frame")
        self._dark_sum, self._dark_count = None, 0
        self._dark_request = (self.current_seq, command.frames, command.epoch)
        return DEFERRED

    def step(self) -> None:
        self._give_back()
        slot = self._frames.acquire_read(READ_TIMEOUT_S)
        if slot is not None:
            self._handle(slot)

    def teardown(self) -> None:
        # Frames already committed are placed, and whatever was assembled is handed on, so a
        # stop never loses acquired frames (a fault counts what could not be placed).
        frames = getattr(self, "_frames", None)
        if frames is not None and self._run is not None:
            try:
                self._drain()
                self._run.flush()
            except Stopped:
                self.log.warning("stopped while waiting for the saver: the last volume is lost")
        for name in ("_frames", "_volumes", "_preview"):
            ring = getattr(self, name, None)
            if ring is not None:
                ring.close()

    # -- frames ---------------------------------------------------------------------------------

    def _handle(self, slot: Slot) -> None:
        position = FREE
        try:
            meta = slot.meta
            kind = int(meta["kind"])
            if kind == KIND_VOID:
                return
            if kind == KIND_END:
                self._end_of(int(meta["run"]), meta)
                return
            frame = frame_view(slot.data, int(meta["height"]), int(meta["width"]))
            if self._dark_request is not None:
                if int(meta["run"]) == self._dark_request[2]:
                    self._accumulate_dark(frame)
            elif self._run is not None and int(meta["run"]) == self._run.plan.run:
                dark = self._subtracted_dark()
                held = slot if self._held.can_reference(self._run.plan.planes) else None
                placed = self._run.place(
                    frame, int(meta["frame_id"]), float(meta["camera_ts"]),
                    float(meta["host_ts"]), dark, held,
                )  # fmt: skip
                position = FREE if placed is None else placed
                self._status.gaps = self._run.missing
                self._status.copied = self._run.copied
            elif self._state.mode == "preview" and self._state.preview:
                self._publish_frame(frame, int(meta["frame_id"]))
        finally:
            self._held.add(slot, position)
            self._give_back()

    def _give_back(self) -> None:
        """Frame slots back to the camera once the saver released the volumes naming them."""
        self._held.give_back(self._volumes.released)

    def _drain(self) -> None:
        for _ in range(DRAIN_LIMIT):
            try:
                slot = self._frames.acquire_read(0)
            except EndOfStream:
                return
            if slot is None:
                return
            self._handle(slot)

    # -- runs -----------------------------------------------------------------------------------

    def _open_run(self, state: DispatcherState) -> None:
        assert state.plan is not None
        self._status.reset(DispatcherStatus.volumes, DispatcherStatus.gaps, DispatcherStatus.copied)
        self._run = RunAssembly(
            state.plan, self._volumes, self.log, self._wait_for_saver, self._on_volume,
            self._on_plane, beat=self.beat, wait_s=LOOK_AHEAD_S,
        )  # fmt: skip
        self._previewed = _NOTHING
        self.log.info("run %d: assembling %d-plane volumes", state.plan.run, state.plan.planes)

    def _end_of(self, run: int, meta: np.ndarray) -> None:
        if self._run is None or run != self._run.plan.run:
            return  # a run closed earlier (cut off), or frames of a preview epoch
        self._close_run(
            int(meta["frame_id"]), int(meta["frames_acquired"]), int(meta["frames_dropped"])
        )

    def _close_run(self, last_frame_id: int, frames_acquired: int, frames_dropped: int) -> None:
        run, self._run = self._run, None
        assert run is not None
        run.finish(last_frame_id, frames_acquired, frames_dropped)
        self._status.gaps = run.missing
        self._status.run_done = run.plan.run
        self.log.info("run %d: all volumes handed to the saver", run.plan.run)

    def _wait_for_saver(self) -> None:
        self._give_back()  # the camera needs the slots of the volumes the saver finished
        self._look_ahead()
        self.beat()
        if self.stop_event.is_set():
            raise Stopped

    def _look_ahead(self) -> None:
        """Preview the run's frames queued in the frame ring while the saver holds every slot."""
        run, state = self._run, self._state
        if run is None or not state.preview or self._dark_request is not None:
            return
        dark = self._subtracted_dark()
        position = max(self._peek_at, self._frames.read_position)
        while (slot := self._frames.peek(position)) is not None:
            position += 1
            meta = slot.meta
            if int(meta["kind"]) != KIND_FRAME or int(meta["run"]) != run.plan.run:
                continue
            frame = frame_view(slot.data, int(meta["height"]), int(meta["width"]))
            index, plane = divmod(int(meta["frame_id"]), state.planes)
            self._fill.add(index, plane, frame, state.planes, dark, state.preview_hz)
            if plane == state.planes - 1:
                self._fill.complete(index)
            self._previewed = (index, plane)
        self._peek_at = position

    def _on_plane(self, plane: np.ndarray, index: int, plane_index: int) -> None:
        state = self._state
        if state.preview and (index, plane_index) > self._previewed:
            self._fill.add(index, plane_index, plane, state.planes, None, state.preview_hz)

    def _on_volume(self, volume: Sequence[np.ndarray], index: int) -> None:
        self._status.volumes += 1
        self._fill.complete(index, volume)

    # -- dark frame and preview -------------------------------------------------------------

    def _accumulate_dark(self, frame: np.ndarray) -> None:
        assert self._dark_request is not None
        reply_to, wanted, _ = self._dark_request
        if self._dark_sum is None or self._dark_sum.shape != frame.shape:
            self._dark_sum = np.zeros(frame.shape, dtype=np.float64)
            self._dark_count = 0
        self._dark_sum += frame
        self._dark_count += 1
        if self._dark_count < wanted:
            return
        self._dark = np.rint(self._dark_sum / self._dark_count).astype(frame.dtype)
        self._dark_sum, self._dark_request = None, None
        self._preview.publish_dark(self._dark)
        self.log.info("dark frame averaged over %d frames", self._dark_count)
        self.reply(reply_to, self._dark.shape)

    def _subtracted_dark(self) -> np.ndarray | None:
        """The dark frame when the current state subtracts it."""
        return self._dark if self._state.subtract_dark else None

    def _publish_frame(self, frame: np.ndarray, frame_id: int) -> None:
        """Preview mode: planar shows each frame, volumetric assembles the latest whole volume."""
        state = self._state
        dark = self._subtracted_dark()
        index, plane = divmod(frame_id, state.planes)
        self._fill.add(index, plane, frame, state.planes, dark, state.preview_hz)
        if plane == state.planes - 1:
            self._fill.complete(index)

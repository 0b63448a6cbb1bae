"""The dispatcher process: assembles volumes by frame id, subtracts the dark frame, feeds the saver.

A frame's place in its volume comes only from its frame id (volume = id // planes, plane =
id % planes), never from the order of arrival, so a missing frame leaves a recorded gap and every
later plane stays where it belongs. Copying a frame into its volume slot is the one copy on the
data path, and the dark subtraction happens in that same pass.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lightsheet.processes.commands import DispatcherCommand
from lightsheet.processes.frames import KIND_END, empty_frame_table
from lightsheet.runtime.preview import PreviewSpec
from lightsheet.runtime.ring import RingSpec
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

READ_TIMEOUT_S = 0.1
WRITE_TIMEOUT_S = 0.2

DISPATCHER_STATUS = (
    "dispatcher.run",  # the run it is ready for
    "dispatcher.volumes",  # volumes handed to the saver in this run
    "dispatcher.gaps",  # planes left empty because their frame never arrived
    "dispatcher.dark_ready",  # 1 once a dark frame has been averaged
    "dispatcher.run_done",  # the last run whose end marker went to the saver
)


class DispatcherWorker(Worker):
    def __init__(
        self,
        frames: RingSpec,
        volumes: RingSpec,
        preview: PreviewSpec,
        status: StatusBoard,
        initial: DispatcherCommand,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("dispatcher", **worker_kwargs)
        self._frames_spec = frames
        self._volumes_spec = volumes
        self._preview_spec = preview
        self._status = status
        self._initial = initial

    def setup(self) -> None:
        self._frames = self._frames_spec.attach()
        self._volumes = self._volumes_spec.attach()
        self._preview = self._preview_spec.attach()
        self._command = self._initial
        self._current = None  # (volume index, slot, frame table) being assembled for the saver
        self._next_volume = 0
        self._end_frame_id: int | None = None
        self._preview_volume: np.ndarray | None = None
        self._dark: np.ndarray | None = None
        self._dark_sum: np.ndarray | None = None
        self._dark_count = 0
        self._last_preview = 0.0
        self._status.set("dispatcher.run_done", -1)
        self.on_settings(self._initial)

    def on_settings(self, settings: object) -> None:
        assert isinstance(settings, DispatcherCommand)
        if settings.mode == "dark" and self._command.mode != "dark":
            self._dark_sum = None
            self._dark_count = 0
            self._status.set("dispatcher.dark_ready", 0)
        if settings.run != self._command.run:
            self._status.reset(("dispatcher.volumes", "dispatcher.gaps"))
            self._next_volume = 0
        self._command = settings
        self._status.set("dispatcher.run", settings.run)

    def step(self) -> None:
        slot = self._frames.acquire_read(READ_TIMEOUT_S)
        if slot is None:
            return
        try:
            meta = slot.meta
            if int(meta["kind"]) == KIND_END:
                self._finish_run(int(meta["run"]), int(meta["frame_id"]))
                return
            height, width = int(meta["height"]), int(meta["width"])
            frame = slot.data.reshape(-1)[: height * width].reshape(height, width)
            command = self._command
            if command.mode == "dark":
                self._accumulate_dark(frame)
            elif command.mode == "acquire" and int(meta["run"]) == command.run:
                self._place(frame, meta, command)
            elif command.mode == "preview":
                self._publish_preview_frame(frame, meta, command)
        finally:
            self._frames.release(slot)

    def teardown(self) -> None:
        # Whatever was assembled is handed on, so a stop never loses acquired frames.
        if getattr(self, "_current", None) is not None:
            self._push_current()
        for name in ("_frames", "_volumes", "_preview"):
            ring = getattr(self, name, None)
            if ring is not None:
                ring.close()

    # -- assembly -----------------------------------------------------------------------------

    def _place(self, frame: np.ndarray, meta: np.ndarray, command: DispatcherCommand) -> None:
        frame_id = int(meta["frame_id"])
        volume, plane = divmod(frame_id, command.planes)
        if self._current is not None and self._current[0] < volume:
            self._push_current()
        # Whole volumes whose frames never arrived are saved as gaps, keeping t aligned with time.
        while self._current is None and self._next_volume < volume:
            self._open_volume(self._next_volume, command)
            self._push_current()
        if self._current is None:
            if volume < self._next_volume:
                self.log.error(
                    "frame %d arrived after its volume %d was saved; ignored", frame_id, volume
                )
                return
            self._open_volume(volume, command)
        _, vslot, table = self._current
        planes_view = vslot.data.reshape(-1)[: command.planes * frame.size]
        destination = planes_view.reshape(command.planes, *frame.shape)[plane]
        if command.subtract_dark and self._dark is not None and self._dark.shape == frame.shape:
            np.maximum(frame, self._dark, out=destination)  # saturating: never wraps below 0
            destination -= self._dark
        else:
            np.copyto(destination, frame)
        row = table[plane]
        row["frame_id"] = frame_id
        row["camera_ts"] = meta["camera_ts"]
        row["host_ts"] = meta["host_ts"]
        row["present"] = True
        if plane == command.planes - 1:
            self._push_current()

    def _open_volume(self, volume: int, command: DispatcherCommand) -> None:
        vslot = None
        while vslot is None:
            vslot = self._volumes.acquire_write(WRITE_TIMEOUT_S)
            if vslot is None and self.stop_event.is_set():
                raise RuntimeError("stopped while waiting for the saver")
            self.beat()  # waiting on a slow saver is back-pressure, not a hang
        table = empty_frame_table(volume, command.planes)
        self._current = (volume, vslot, table)

    def _push_current(self) -> None:
        volume, vslot, table = self._current
        command = self._command
        missing = ~table["present"]
        if missing.any():
            planes_view = vslot.data.reshape(-1)[: command.planes * command.height * command.width]
            planes_view.reshape(command.planes, -1)[missing] = 0
            self._status.add("dispatcher.gaps", int(missing.sum()))
            self.log.warning(
                "volume %d saved with %d missing plane(s): %s",
                volume,
                int(missing.sum()),
                np.flatnonzero(missing).tolist(),
            )
        meta = vslot.meta
        meta["volume"] = volume
        meta["run"] = command.run
        meta["kind"] = 0
        meta["planes"] = command.planes
        meta["height"] = command.height
        meta["width"] = command.width
        meta["frames"][: command.planes] = table
        if command.preview:
            self._publish_preview_volume(vslot.data, volume, command)
        self._volumes.commit(vslot)
        self._current = None
        self._next_volume = volume + 1
        self._status.add("dispatcher.volumes")

    def _finish_run(self, run: int, last_frame_id: int) -> None:
        command = self._command
        if command.mode == "acquire" and run == command.run:
            # Volumes up to the run's last frame are all saved, even those whose frames were lost
            # at the very end; planes after the last frame were never part of the run.
            self._end_frame_id = last_frame_id
            last_volume = last_frame_id // command.planes if last_frame_id >= 0 else -1
            if self._current is not None:
                self._push_current()
            while self._next_volume <= last_volume:
                self._open_volume(self._next_volume, command)
                self._push_current()
            self._end_frame_id = None
            marker = None
            while marker is None:
                marker = self._volumes.acquire_write(WRITE_TIMEOUT_S)
                if marker is None and self.stop_event.is_set():
                    return
                self.beat()
            marker.meta["kind"] = KIND_END
            marker.meta["run"] = run
            self._volumes.commit(marker)
            self.log.info("run %d: all volumes handed to the saver", run)
        self._status.set("dispatcher.run_done", run)

    # -- dark frame and preview ---------------------------------------------------------------

    def _accumulate_dark(self, frame: np.ndarray) -> None:
        if self._dark_sum is None or self._dark_sum.shape != frame.shape:
            self._dark_sum = np.zeros(frame.shape, dtype=np.float64)
            self._dark_count = 0
        self._dark_sum += frame
        self._dark_count += 1
        if self._dark_count >= self._command.dark_frames:
            self._dark = np.rint(self._dark_sum / self._dark_count).astype(frame.dtype)
            self._dark_sum = None
            self._preview.publish_dark(self._dark)
            self._status.set("dispatcher.dark_ready", 1)
            self.log.info("dark frame averaged over %d frames", self._dark_count)

    def _publish_preview_frame(
        self, frame: np.ndarray, meta: np.ndarray, command: DispatcherCommand
    ) -> None:
        """Preview mode: planar shows each frame, volumetric assembles the latest whole volume."""
        if command.subtract_dark and self._dark is not None and self._dark.shape == frame.shape:
            shown = np.maximum(frame, self._dark)
            shown -= self._dark
        else:
            shown = frame
        if command.planes == 1:
            self._preview.publish(shown[np.newaxis], int(meta["frame_id"]))
            return
        shape = (command.planes, *frame.shape)
        if self._preview_volume is None or self._preview_volume.shape != shape:
            self._preview_volume = np.zeros(shape, dtype=frame.dtype)
        plane = int(meta["frame_id"]) % command.planes
        self._preview_volume[plane] = shown
        if plane == command.planes - 1:
            self._preview.publish(self._preview_volume, int(meta["frame_id"]) // command.planes)

    def _publish_preview_volume(
        self, data: np.ndarray, volume: int, command: DispatcherCommand
    ) -> None:
        now = time.monotonic()
        if now - self._last_preview < 1.0 / max(self._preview.max_rate_hz, 0.1):
            return
        self._last_preview = now
        n = command.planes * command.height * command.width
        shaped = data.reshape(-1)[:n].reshape(command.planes, command.height, command.width)
        self._preview.publish(shaped, volume)

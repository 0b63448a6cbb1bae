"""The camera process: reads frames straight into the frame ring, counts what it cannot place.

The camera never waits for the consumers: when the ring is full the frame is read into a scratch
buffer, counted as dropped and logged, so back-pressure from a slow saver can never stall the
camera's own buffer and shift frame ids. Its desired state (``CameraState``) is paused, preview
or acquire (a run with an end); ``FinishRun`` ends a run at the end of the current volume.

A run ends with an END marker in the ring carrying the id of the run's last frame and the run's
counts. A slot taken for a read that timed out is committed as VOID before the marker, so the
ring stays in order whatever moment the run ends at.

Two ways frames reach the ring: ``read_into`` a slot the camera process took (every camera), or,
for a driver that receives into memory it is lent (``FrameViews``: Aravis), slots lent to the
camera ahead of time and handed back in order (``lent_slots.py``), so the frame lands in shared
memory without any copy at all.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lightsheet.config import CameraConfig
from lightsheet.hardware.camera.factory import apply_settings, open_camera
from lightsheet.hardware.camera.protocol import FrameInfo
from lightsheet.processes.commands import CameraState, FinishRun
from lightsheet.processes.frames import KIND_END, KIND_FRAME, KIND_VOID, frame_view
from lightsheet.processes.lent_slots import LentSlots
from lightsheet.processes.status import CameraStatus
from lightsheet.runtime.commands import CommandRefused
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.ring import RingSpec, Slot
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

READ_TIMEOUT_S = 0.1
RATE_WINDOW_S = 1.0
LAG_TOLERANCE = 0.9  # warn when the measured rate is below 90 % of the expected one
LAG_WARN_EVERY_S = 10.0
MARKER_WAIT_S = 0.2




_MODE_CODE = {"paused": 0, "preview": 1, "acquire": 2}


class CameraWorker(Worker):
    """Owns the camera device; the only writer of the frame ring."""

    def __init__(
        self,
        ring: RingSpec,
        status: StatusBoard,
        initial: CameraState,
        z_positions_um: list[float],
        daq_link: str | None = None,
        calibration: tuple[float, float] | None = None,
        gate: LoggedEvent | None = None,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("camera", **worker_kwargs)
        self._gate = gate
        self._ring_spec = ring
        self._board = status
        self._initial = initial
        self._z_positions_um = list(z_positions_um)
        self._daq_link = daq_link
        self._calibration = calibration

    # -- child side ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._status = self._board.section(CameraStatus)
        self._ring = self._ring_spec.attach()
        self._pixels = int(np.prod(self._ring_spec.slot_shape))
        self._camera = open_camera(
            self._initial.camera,
            self._z_positions_um,
            daq_link=self._daq_link,
            calibration=self._calibration,
            buffer_frames=self._ring_spec.n_slots,
        )
        self._lent = LentSlots.for_camera(self._camera, self._ring)
        self._state = CameraState(mode="paused", camera=self._initial.camera)
        self._pending: Slot | None = None  # a ring slot taken for a read that timed out
        self._scratch = np.empty(self._pixels, dtype=self._ring_spec.dtype)
        self._rate_count = 0
        self._rate_start: float | None = None
        self._last_lag_warning = 0.0
        self._drop_log_count = 0
        self._last_run_ended = 0
        self._deferred = False  # a gated run waiting for its start
        self.on_settings(self._initial)

    def on_settings(self, settings: object) -> object:
        if not isinstance(settings, CameraState):
            raise CommandRefused(f"not a camera state: {type(settings).__name__}")
        old, new = self._state, settings
        if new.mode == "acquire" and new.run <= self._last_run_ended:
            # A repeated state for a run that already ended must not start it again.
            new = CameraState(mode="paused", camera=new.camera, run=new.run)
        restart = (
            new.mode != old.mode
            or new.run != old.run
            or _shape_settings(new.camera) != _shape_settings(old.camera)
        )
        if restart:
            self._stop_camera()
        self._apply_camera_settings(new.camera, live=not restart)
        self._state = new
        self._status.mode = _MODE_CODE[new.mode]
        if restart and new.mode in ("preview", "acquire"):
            self._start_run(new)
        return None

    def on_command(self, command: object) -> object:
        if not isinstance(command, FinishRun):
            raise CommandRefused(f"unknown camera command {type(command).__name__}")
        state = self._state
        if state.mode == "acquire" and command.run == state.run:
            self._finish_volume(state, command.volume_frames)
        return None

    def step(self) -> None:
        state = self._state
        if self._deferred:
            if self._gate is None or not self._gate.wait(0.02):
                return
            self._deferred = False
            self.beating_while(self._camera.start)
            self.log.info("start gate open: camera started")
        if state.mode == "paused":
            self.stop_event.wait(0.05)
            return
        if self._lent is not None:
            self._step_lent(state, self._lent)
            return
        slot = self._pending or self._ring.try_acquire_write()
        self._pending = None
        height, width = self._camera.frame_shape
        target = slot.data if slot is not None else self._scratch
        info = self._camera.read_into(frame_view(target, height, width), READ_TIMEOUT_S)
        if info is None:
            self._pending = slot
            return
        limit = state.max_frames if state.mode == "acquire" else None
        if limit is not None and info.frame_id >= limit:
            # The camera lost the run's last frame(s) and this one belongs after the run.
            self._pending = slot
            self._end_run(state, last_frame_id=limit - 1)
            return
        if slot is not None:
            _fill_meta(slot, info, state.run, height, width)
            self._ring.commit(slot)
        else:
            self._record_drop(info.frame_id)
        self._count_frame(info)
        if limit is not None and info.frame_id >= limit - 1:
            self._end_run(state, last_frame_id=info.frame_id)

    def teardown(self) -> None:
        camera = getattr(self, "_camera", None)
        if camera is not None:
            self._stop_camera()
            self._void_pending()
            camera.close()
        ring = getattr(self, "_ring", None)
        if ring is not None:
            ring.close()

    # -- helpers ------------------------------------------------------------------------------

    def _apply_camera_settings(self, cfg: CameraConfig, live: bool) -> None:
        cam = self._camera
        if cam.is_running:
            # Only live settings (exposure) change while frames flow; the rest needs a restart.
            before = cam.exposure_ms
            applied = cam.set_exposure_ms(cfg.exposure_ms)
            if applied != cfg.exposure_ms:
                self.log.warning("exposure %.4g ms clipped to %.4g ms", cfg.exposure_ms, applied)
            if live and applied != before:
                self.log.info("exposure %.4g ms applied live", applied)
            return
        apply_settings(cam, cfg)
        height, width = cam.frame_shape
        if height * width > self._pixels:
            raise CommandRefused(
                f"frame {height}x{width} does not fit the frame ring slots "
                f"({self._pixels} pixels); restart the session after changing the sensor"
            )

    def _start_run(self, state: CameraState) -> None:
        status = self._status
        status.reset(CameraStatus.frames, CameraStatus.dropped, CameraStatus.fps)
        status.reset(CameraStatus.last_frame_id, CameraStatus.first_frame_id)
        status.first_frame_host_ts = 0
        self._drop_log_count = 0
        free_running = self._camera.trigger_mode == "internal"
        self._deferred = state.mode == "acquire" and state.gated and free_running
        if self._lent is not None:
            self._lent.lend()  # before the start: the driver receives into them from then on
        if not self._deferred:  # frame 0 of a gated run comes after the start gate opens
            self.beating_while(self._camera.start)  # a start may render or open for seconds
        self._rate_count, self._rate_start = 0, None
        # Set only once the camera is armed; the reply to this state says the same.
        status.run = state.run
        self.log.info(
            "camera started: %s, run %d, %s frames, exposure %.4g ms, frame %s",
            state.mode,
            state.run,
            state.max_frames if state.max_frames is not None else "unlimited",
            self._camera.exposure_ms,
            self._camera.frame_shape,
        )

    def _finish_volume(self, state: CameraState, volume_frames: int) -> None:
        """Stop at the end of the volume being acquired, so a stop leaves no partial volume."""
        last = self._status.last_frame_id
        per_volume = max(volume_frames, 1)
        boundary = (last // per_volume + 1) * per_volume
        if last < 0 or boundary == last + 1:
            self._end_run(state, last_frame_id=last)
            return
        if state.max_frames is not None:
            boundary = min(boundary, state.max_frames)
        self._state = CameraState(
            state.mode, state.camera, state.run, boundary, state.expected_fps, state.gated
        )
        self.log.info("finishing the current volume: the run ends after frame %d", boundary - 1)

    def _stop_camera(self) -> None:
        self._deferred = False
        if self._camera.is_running:
            self._camera.stop()
            self.log.info("camera stopped")
        if self._lent is not None:
            self._lent.take_back()  # every lent slot goes on as VOID: the ring stays in order

    def _step_lent(self, state: CameraState, lent: LentSlots) -> None:
        """One frame handed back by a camera that fills lent slots (no copy at all)."""
        lent.lend()
        handed = lent.next_filled(READ_TIMEOUT_S)
        for _ in range(lent.take_drops()):
            self._record_drop(-1)
        if handed is None:
            return
        slot, info = handed
        limit = state.max_frames if state.mode == "acquire" else None
        if info is None or (limit is not None and info.frame_id >= limit):
            lent.void(slot)  # a frame the camera lost (a gap), or one after the run
            if info is not None and limit is not None:
                self._end_run(state, last_frame_id=limit - 1)
            return
        height, width = self._camera.frame_shape
        _fill_meta(slot, info, state.run, height, width)
        self._ring.commit(slot)
        self._count_frame(info)
        if limit is not None and info.frame_id >= limit - 1:
            self._end_run(state, last_frame_id=info.frame_id)

    def _void_pending(self) -> None:
        """Give back the slot of a read that timed out, so the ring stays in order."""
        slot, self._pending = self._pending, None
        if slot is not None:
            slot.meta["kind"] = KIND_VOID
            self._ring.commit(slot)

    def _end_run(self, state: CameraState, last_frame_id: int) -> None:
        """Stop the camera and mark the end of the run in the ring, after its last frame.

        The marker carries the id of the run's last frame, so the dispatcher can tell frames
        that were lost at the very end (gaps) from planes that were never part of the run.
        """
        self._stop_camera()
        self._void_pending()
        self._last_run_ended = state.run
        self._state = CameraState(mode="paused", camera=state.camera, run=state.run)
        self._status.mode = _MODE_CODE["paused"]
        while not self.stop_event.is_set():
            slot = self._ring.acquire_write(MARKER_WAIT_S)
            self.beat()  # waiting for a slot under back-pressure is not a hang
            if slot is not None:
                meta = slot.meta
                meta["kind"] = KIND_END
                meta["run"] = state.run
                meta["frame_id"] = last_frame_id
                meta["frames_acquired"] = last_frame_id + 1
                meta["frames_dropped"] = self._status.dropped
                self._ring.commit(slot)
                self.log.info("run %d complete: end marker written", state.run)
                return
        self.log.warning("run %d: stopped before the end marker could be written", state.run)

    def _record_drop(self, frame_id: int) -> None:
        self._status.dropped += 1
        self._drop_log_count += 1
        # Every drop is counted; the log names the first ones and then one line per hundred.
        if self._drop_log_count <= 20 or self._drop_log_count % 100 == 0:
            self.log.warning(
                "frame %d dropped: frame ring full (%d dropped so far in this run)",
                frame_id,
                self._status.dropped,
            )
        if self._drop_log_count == 1:
            self.log.warning(self._ring_hint())

    def _ring_hint(self) -> str:
        """Why a ring fills: how long a lag of the saver it absorbs, and what sets that."""
        slots, fps = self._ring.spec.n_slots, self._state.expected_fps
        held = f"{slots} frames" + (f", {slots / fps:.3g} s at {fps:.4g} frames/s" if fps else "")
        return (
            f"the frame ring holds {held}: the saver fell behind the camera for longer than that "
            "(a disk that slows down for a while); buffers.frame_ring_mb sets its size"
        )

    def _count_frame(self, info: FrameInfo) -> None:
        status = self._status
        now = time.monotonic()
        if status.last_frame_id < 0:
            status.first_frame_host_ts = info.host_ts
            status.first_frame_id = info.frame_id
        status.frames += 1
        status.last_frame_id = info.frame_id
        if self._rate_start is None:  # the rate is measured from the first frame on
            self._rate_count, self._rate_start = 0, now
            return
        self._rate_count += 1
        elapsed = now - self._rate_start
        if elapsed < RATE_WINDOW_S:
            return
        fps = self._rate_count / elapsed
        status.fps = fps
        self._rate_count, self._rate_start = 0, now
        expected = self._state.expected_fps
        lagging = expected is not None and fps < LAG_TOLERANCE * expected
        if lagging and now - self._last_lag_warning > LAG_WARN_EVERY_S:
            self._last_lag_warning = now
            self.log.warning("camera lags: %.1f frames/s measured, %.1f requested", fps, expected)


def _fill_meta(slot: Slot, info: FrameInfo, run: int, height: int, width: int) -> None:
    meta = slot.meta
    meta["frame_id"] = info.frame_id
    meta["camera_ts"] = info.camera_ts
    meta["host_ts"] = info.host_ts
    meta["run"] = run
    meta["kind"] = KIND_FRAME
    meta["height"] = height
    meta["width"] = width


def _shape_settings(cfg: CameraConfig) -> tuple[object, ...]:
    roi = cfg.roi
    return (cfg.binning, cfg.trigger_mode, roi.x, roi.y, roi.width, roi.height)

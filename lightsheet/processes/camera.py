"""The camera process: reads frames straight into the frame ring, counts what it cannot place.

The camera never waits for the consumers: when the ring is full the frame is read into a scratch
buffer, counted as dropped and logged, so back-pressure from a slow saver can never stall the
camera's own buffer and shift frame ids. Modes: paused, preview, acquire (a run with an end), abort.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from lightsheet.hardware.camera.factory import apply_settings, open_camera
from lightsheet.processes.commands import CameraCommand
from lightsheet.processes.frames import KIND_END, KIND_FRAME
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.ring import RingSpec
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker

READ_TIMEOUT_S = 0.1
RATE_WINDOW_S = 1.0
LAG_TOLERANCE = 0.9  # warn when the measured rate is below 90 % of the expected one
LAG_WARN_EVERY_S = 10.0

CAMERA_STATUS = (
    "camera.mode",  # 0 paused, 1 preview, 2 acquire
    "camera.run",
    "camera.frames",  # frames read in the current run or preview
    "camera.dropped",  # frames the full ring refused in the current run
    "camera.fps",
    "camera.last_frame_id",
    "camera.first_frame_host_ts",
    "camera.first_frame_id",
)
_MODE_CODE = {"paused": 0, "preview": 1, "acquire": 2}


class CameraWorker(Worker):
    """Owns the camera device; the only writer of the frame ring."""

    def __init__(
        self,
        ring: RingSpec,
        status: StatusBoard,
        initial: CameraCommand,
        z_positions_um: list[float],
        daq_link: str | None = None,
        calibration: tuple[float, float] | None = None,
        gate: LoggedEvent | None = None,
        **worker_kwargs: Any,
    ) -> None:
        super().__init__("camera", **worker_kwargs)
        self._gate = gate
        self._ring_spec = ring
        self._status = status
        self._initial = initial
        self._z_positions_um = list(z_positions_um)
        self._daq_link = daq_link
        self._calibration = calibration

    # -- child side ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._ring = self._ring_spec.attach()
        self._pixels = int(np.prod(self._ring_spec.slot_shape))
        self._camera = open_camera(
            self._initial.camera,
            self._z_positions_um,
            daq_link=self._daq_link,
            calibration=self._calibration,
        )
        self._command = CameraCommand(mode="paused", camera=self._initial.camera)
        self._pending = None  # a ring slot acquired but not yet filled (the read timed out)
        self._scratch = np.empty(self._pixels, dtype=self._ring_spec.dtype)
        self._rate_count = 0
        self._rate_start = time.monotonic()
        self._last_lag_warning = 0.0
        self._drop_log_count = 0
        self._last_run_ended = 0
        self._deferred: CameraCommand | None = None  # a gated run waiting for its start
        self.on_settings(self._initial)

    def on_settings(self, settings: object) -> None:
        assert isinstance(settings, CameraCommand)
        old, new = self._command, settings
        if new.mode == "finish":
            if old.mode == "acquire" and new.run == old.run:
                self._finish_volume(old, new.volume_frames)
            return
        if new.mode == "abort":
            self.log.info("abort: stopping the camera without ending the run")
            self._stop_camera()
            new = CameraCommand(mode="paused", camera=new.camera)
        if new.mode == "acquire" and new.run <= self._last_run_ended:
            # A repeated command for a run that already ended must not start it again.
            new = CameraCommand(mode="paused", camera=new.camera, run=new.run)
        restart = (
            new.mode != old.mode
            or new.run != old.run
            or _shape_settings(new.camera) != _shape_settings(old.camera)
        )
        if restart:
            self._stop_camera()
        self._apply_camera_settings(new.camera)
        self._command = new
        self._status.set("camera.mode", _MODE_CODE[new.mode])
        if restart and new.mode in ("preview", "acquire"):
            self._start_run(new)

    def step(self) -> None:
        command = self._command
        if self._deferred is not None:
            if self._gate is None or not self._gate.wait(0.02):
                return
            self._deferred = None
            self._camera.start()
            self._rate_count = 0
            self._rate_start = time.monotonic()
            self.log.info("start gate open: camera started")
        if command.mode not in ("preview", "acquire"):
            self.stop_event.wait(0.05)
            return
        slot = self._pending or self._ring.try_acquire_write()
        self._pending = None
        height, width = self._camera.frame_shape
        target = slot.data if slot is not None else self._scratch
        frame_view = target.reshape(-1)[: height * width].reshape(height, width)
        info = self._camera.read_into(frame_view, READ_TIMEOUT_S)
        if info is None:
            self._pending = slot
            return
        limit = command.max_frames if command.mode == "acquire" else None
        if limit is not None and info.frame_id >= limit:
            # The camera lost the run's last frame(s) and this one belongs after the run.
            self._pending = slot
            self._end_run(command, last_frame_id=limit - 1)
            return
        if slot is not None:
            meta = slot.meta
            meta["frame_id"] = info.frame_id
            meta["camera_ts"] = info.camera_ts
            meta["host_ts"] = info.host_ts
            meta["run"] = command.run
            meta["kind"] = KIND_FRAME
            meta["height"] = height
            meta["width"] = width
            self._ring.commit(slot)
        else:
            self._record_drop(info.frame_id)
        self._count_frame(info)
        if limit is not None and info.frame_id >= limit - 1:
            self._end_run(command, last_frame_id=info.frame_id)

    def teardown(self) -> None:
        camera = getattr(self, "_camera", None)
        if camera is not None:
            self._stop_camera()
            camera.close()
        ring = getattr(self, "_ring", None)
        if ring is not None:
            ring.close()

    # -- helpers ------------------------------------------------------------------------------

    def _apply_camera_settings(self, cfg: Any) -> None:
        cam = self._camera
        if cam.is_running:
            # Only live settings (exposure) change while frames flow; the rest waits for a restart.
            applied = cam.set_exposure_ms(cfg.exposure_ms)
            if applied != cfg.exposure_ms:
                self.log.warning("exposure %.4g ms clipped to %.4g ms", cfg.exposure_ms, applied)
            return
        apply_settings(cam, cfg)
        height, width = cam.frame_shape
        if height * width > self._pixels:
            raise ValueError(
                f"frame {height}x{width} does not fit the frame ring slots "
                f"({self._pixels} pixels); restart the session after changing the sensor"
            )

    def _start_run(self, command: CameraCommand) -> None:
        self._status.reset(("camera.frames", "camera.dropped", "camera.fps"))
        self._status.set("camera.last_frame_id", -1)
        self._status.set("camera.first_frame_host_ts", 0)
        self._status.set("camera.first_frame_id", -1)
        free_running = self._camera.trigger_mode == "internal"
        if command.mode == "acquire" and command.gated and free_running:
            self._deferred = command  # frame 0 comes after the start gate opens
        else:
            self._camera.start()
        # Measured from here: starting may take a while (the simulated camera renders planes).
        self._rate_count = 0
        self._rate_start = time.monotonic()
        # Set only once the camera is armed: the session starts the scan after seeing it.
        self._status.set("camera.run", command.run)
        self.log.info(
            "camera started: %s, run %d, %s frames, exposure %.4g ms, frame %s",
            command.mode,
            command.run,
            command.max_frames if command.max_frames is not None else "unlimited",
            self._camera.exposure_ms,
            self._camera.frame_shape,
        )

    def _finish_volume(self, command: CameraCommand, volume_frames: int) -> None:
        """Stop at the end of the volume being acquired, so a stop leaves no partial volume."""
        last = int(self._status.get("camera.last_frame_id"))
        boundary = (last // max(volume_frames, 1) + 1) * max(volume_frames, 1)
        if last < 0 or boundary == last + 1:
            self._end_run(command, last_frame_id=last)
            return
        if command.max_frames is not None:
            boundary = min(boundary, command.max_frames)
        self._command = replace(command, max_frames=boundary)
        self.log.info("finishing the current volume: the run ends after frame %d", boundary - 1)

    def _stop_camera(self) -> None:
        self._deferred = None
        if self._camera.is_running:
            self._camera.stop()
            self.log.info("camera stopped")
        # A slot acquired for a read that timed out stays ours and takes the next frame: the ring
        # hands out slots in order, so dropping it would jam the producer side.

    def _end_run(self, command: CameraCommand, last_frame_id: int) -> None:
        """Stop the camera and mark the end of the run in the ring, after its last frame.

        The marker carries the id of the run's last frame, so the dispatcher can tell frames
        that were lost at the very end (gaps) from planes that were never part of the run.
        """
        self._stop_camera()
        self._last_run_ended = command.run
        self._command = CameraCommand(mode="paused", camera=command.camera, run=command.run)
        self._status.set("camera.mode", 0)
        while not self.stop_event.is_set():
            slot = self._ring.acquire_write(0.2)
            if slot is not None:
                slot.meta["kind"] = KIND_END
                slot.meta["run"] = command.run
                slot.meta["frame_id"] = last_frame_id
                self._ring.commit(slot)
                self.log.info("run %d complete: end marker written", command.run)
                return
        self.log.warning("run %d: stopped before the end marker could be written", command.run)

    def _record_drop(self, frame_id: int) -> None:
        self._status.add("camera.dropped")
        self._drop_log_count += 1
        # Every drop is counted; the log names the first ones and then one line per hundred.
        if self._drop_log_count <= 20 or self._drop_log_count % 100 == 0:
            self.log.warning(
                "frame %d dropped: frame ring full (%d dropped so far in this run)",
                frame_id,
                int(self._status.get("camera.dropped")),
            )

    def _count_frame(self, info: Any) -> None:
        status = self._status
        if status.get("camera.last_frame_id") < 0:
            status.set("camera.first_frame_host_ts", info.host_ts)
            status.set("camera.first_frame_id", info.frame_id)
        status.add("camera.frames")
        status.set("camera.last_frame_id", info.frame_id)
        self._rate_count += 1
        now = time.monotonic()
        elapsed = now - self._rate_start
        if elapsed < RATE_WINDOW_S:
            return
        fps = self._rate_count / elapsed
        status.set("camera.fps", fps)
        self._rate_count = 0
        self._rate_start = now
        expected = self._command.expected_fps
        lagging = expected and fps < LAG_TOLERANCE * expected
        if lagging and now - self._last_lag_warning > LAG_WARN_EVERY_S:
            self._last_lag_warning = now
            self.log.warning("camera lags: %.1f frames/s measured, %.1f requested", fps, expected)


def _shape_settings(cfg: Any) -> tuple:
    roi = cfg.roi
    return (cfg.binning, cfg.trigger_mode, roi.x, roi.y, roi.width, roi.height)

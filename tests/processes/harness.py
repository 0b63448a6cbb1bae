"""Rings and workers in the test process: a worker's setup/on_settings/step called directly.

The frames written here are what the camera process writes (metadata included), so the
dispatcher and saver run their real code on real shared-memory rings, without spawning.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.processes.commands import DispatcherState, RunPlan
from lightsheet.processes.dispatcher import DispatcherWorker
from lightsheet.processes.frames import (
    FRAME_META,
    KIND_END,
    KIND_VOID,
    volume_meta_dtype,
    volume_planes,
)
from lightsheet.processes.saver import SaverWorker
from lightsheet.processes.status import SCHEMAS
from lightsheet.runtime.commands import Notice, Reply
from lightsheet.runtime.preview import PreviewBuffer
from lightsheet.runtime.ring import Ring
from lightsheet.runtime.status import StatusBoard

PLANES, HEIGHT, WIDTH = 4, 8, 6


def frame_of(frame_id: int, offset: int = 1000) -> np.ndarray:
    """A frame whose every pixel says which frame it is."""
    return np.full((HEIGHT, WIDTH), offset + frame_id, dtype=np.uint16)


def plan(run: int, out_dir: Path, planes: int = PLANES) -> RunPlan:
    return RunPlan(run=run, out_dir=str(out_dir), planes=planes, height=HEIGHT, width=WIDTH)


def acquire_state(run_plan: RunPlan, **changes: Any) -> DispatcherState:
    return DispatcherState(
        "acquire", run_plan.planes, HEIGHT, WIDTH, run_plan, **changes
    )


class Rings:
    """The frame ring, volume ring and preview buffer of one small rig."""

    def __init__(self, frame_slots: int = 32, volume_slots: int = 8) -> None:
        pixels = HEIGHT * WIDTH
        self.frames = Ring.create("tframes", (pixels,), "<u2", frame_slots, FRAME_META, False)
        self.volumes = Ring.create(
            "tvolumes", (PLANES * pixels,), "<u2", volume_slots, volume_meta_dtype(PLANES), True
        )
        self.preview = PreviewBuffer.create("t", PLANES * pixels, pixels, "<u2")
        self.status = StatusBoard(SCHEMAS)

    def close(self) -> None:
        for block in (self.frames, self.volumes, self.preview):
            block.close()

    # -- the camera's side ------------------------------------------------------------------------

    def frame(self, run: int, frame_id: int, image: np.ndarray | None = None) -> None:
        slot = self.frames.try_acquire_write()
        assert slot is not None, "frame ring full"
        image = frame_of(frame_id) if image is None else image
        slot.data[: image.size] = image.reshape(-1)
        meta = slot.meta
        meta["frame_id"], meta["run"], meta["kind"] = frame_id, run, 0
        meta["camera_ts"], meta["host_ts"] = frame_id * 0.01, 1000.0 + frame_id * 0.01
        meta["height"], meta["width"] = HEIGHT, WIDTH
        self.frames.commit(slot)

    def void(self) -> None:
        slot = self.frames.try_acquire_write()
        assert slot is not None
        slot.meta["kind"] = KIND_VOID
        self.frames.commit(slot)

    def end(self, run: int, last_frame_id: int, dropped: int = 0) -> None:
        slot = self.frames.acquire_write(1.0)
        assert slot is not None
        meta = slot.meta
        meta["kind"], meta["run"], meta["frame_id"] = KIND_END, run, last_frame_id
        meta["frames_acquired"], meta["frames_dropped"] = last_frame_id + 1, dropped
        self.frames.commit(slot)

    # -- the saver's side -------------------------------------------------------------------------

    def take_volumes(self) -> list[dict[str, Any]]:
        """Every slot the dispatcher handed on, in order, copied out and released."""
        taken = []
        while True:
            slot = self.volumes.acquire_read(0)
            if slot is None:
                return taken
            meta = slot.meta
            taken.append(
                {
                    "kind": int(meta["kind"]),
                    "run": int(meta["run"]),
                    "volume": int(meta["volume"]),
                    "frames": meta["frames"].copy(),
                    "data": self._volume_data(slot),
                    "acquired": int(meta["frames_acquired"]),
                    "dropped": int(meta["frames_dropped"]),
                    "missing": int(meta["frames_missing"]),
                }
            )
            self.volumes.release(slot)

    def _volume_data(self, slot: Any) -> np.ndarray:
        """The volume's planes where the saver finds them (frame slots or the volume slot)."""
        if int(slot.meta["kind"]) != 0:
            return slot.data.reshape(PLANES, HEIGHT, WIDTH).copy()
        planes = volume_planes(
            slot.data, slot.meta, PLANES, HEIGHT, WIDTH, self.frames.slot_data
        )
        return np.stack(planes)


@contextmanager
def dispatcher_in_process(rings: Rings, tmp_path: Path) -> Iterator[DispatcherWorker]:
    worker = DispatcherWorker(
        rings.frames.spec, rings.volumes.spec, rings.preview.spec, rings.status,
        DispatcherState("idle", 1, HEIGHT, WIDTH), log_dir=tmp_path,
    )  # fmt: skip
    worker.setup()
    try:
        yield worker
    finally:
        worker.teardown()


def saver_in_process(rings: Rings, tmp_path: Path, with_frames: bool = True) -> SaverWorker:
    """A set-up saver; with ``with_frames`` it may write planes from the frame ring."""
    frames = rings.frames.spec if with_frames else None
    worker = SaverWorker(rings.volumes.spec, rings.status, frames, log_dir=tmp_path / "logs")
    worker.setup()
    return worker


def pump(worker: Any, ring: Ring, steps: int = 200, until_released: bool = False) -> None:
    """Run the worker's loop body until everything committed to ``ring`` was taken, or with
    ``until_released`` given back: the saver holds a slot until its volume's write has landed,
    and gives it back by its next step when no volume waits."""
    for _ in range(steps):
        counters = ring.counters()
        done = counters.released if until_released else counters.read
        if counters.committed == done:
            return
        worker.step()


def outbox(worker: Any) -> list[Reply | Notice]:
    items = []
    while True:
        try:
            items.append(worker.outbox.get(timeout=0.5 if not items else 0.05))
        except Exception:
            return items

"""The saver process: writes every volume of the volume ring into chunked HDF5, never dropping one.

It writes straight from the shared-memory slot (no copy), releases the slot, and only then lets the
dispatcher reuse it; when it falls behind, the dispatcher blocks on the full volume ring and the
back-pressure reaches the camera ring, where the camera counts what it cannot place.
"""

from __future__ import annotations

import time
from typing import Any

from lightsheet.processes.commands import RunPlan, SaverCommand
from lightsheet.processes.frames import KIND_END
from lightsheet.runtime.ring import RingSpec
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker
from lightsheet.storage.chunks import ChunkWriter

READ_TIMEOUT_S = 0.1

SAVER_HEARTBEAT_TIMEOUT_S = 30.0
SAVER_STATUS = (
    "saver.run_open",  # the run whose files are open (-1: none)
    "saver.run_done",  # the last run whose files are closed
    "saver.volumes",  # volumes written in the current run
    "saver.chunks",  # chunk files completed in the current run
    "saver.bytes",  # bytes of image data written in the current run
    "saver.mbps",  # recent write throughput (MB/s)
)


class SaverWorker(Worker):
    def __init__(
        self,
        volumes: RingSpec,
        status: StatusBoard,
        **worker_kwargs: Any,
    ) -> None:
        # One step writes a volume and may fsync a whole chunk file: seconds on a slow disk.
        worker_kwargs.setdefault("heartbeat_timeout_s", SAVER_HEARTBEAT_TIMEOUT_S)
        super().__init__("saver", **worker_kwargs)
        self._volumes_spec = volumes
        self._status = status

    def setup(self) -> None:
        self._volumes = self._volumes_spec.attach()
        self._plan: RunPlan | None = None
        self._writer: ChunkWriter | None = None
        self._rate_bytes = 0
        self._rate_start = time.monotonic()
        self._status.set("saver.run_open", -1)
        self._status.set("saver.run_done", -1)

    def on_settings(self, settings: object) -> None:
        assert isinstance(settings, SaverCommand)
        plan = settings.plan
        if plan is None or (self._plan is not None and plan.run == self._plan.run):
            return
        if self._writer is not None:
            self.log.warning("run %d replaced by run %d before its end", self._plan.run, plan.run)
            self._close_run()
        self._open_run(plan)

    def step(self) -> None:
        slot = self._volumes.acquire_read(READ_TIMEOUT_S)
        if slot is None:
            self._update_rate(0)
            return
        try:
            self._handle(slot)
        finally:
            self._volumes.release(slot)

    def teardown(self) -> None:
        # Drain what the dispatcher already handed over, then close: a stop never loses a volume.
        volumes = getattr(self, "_volumes", None)
        if volumes is None:
            return
        while self._writer is not None:
            slot = volumes.acquire_read(0)
            if slot is None:
                self._close_run()
                break
            try:
                self._handle(slot)
            finally:
                volumes.release(slot)
        volumes.close()

    def _handle(self, slot) -> None:
        meta = slot.meta
        run = int(meta["run"])
        if self._plan is None or run != self._plan.run or self._writer is None:
            self.log.error("volume of run %d arrived with no open run for it; discarded", run)
            return
        if int(meta["kind"]) == KIND_END:
            self._close_run()
            return
        plan = self._plan
        n = plan.planes * plan.height * plan.width
        volume = slot.data.reshape(-1)[:n].reshape(plan.planes, plan.height, plan.width)
        self._writer.write_volume(volume, meta["frames"][: plan.planes])
        self._status.add("saver.volumes")
        self._status.add("saver.bytes", volume.nbytes)
        self._status.set("saver.chunks", self._writer.chunks_completed)
        self._update_rate(volume.nbytes)

    def _open_run(self, plan: RunPlan) -> None:
        self._plan = plan
        self._writer = ChunkWriter(
            plan.out_dir,
            (plan.planes, plan.height, plan.width),
            self._volumes_spec.dtype,
            plan.volumes_per_chunk,
            compression=plan.compression,
            compression_level=plan.compression_level,
            attrs=plan.attrs,
            waveforms=plan.waveforms,
        )
        self._status.reset(("saver.volumes", "saver.chunks", "saver.bytes"))
        self._status.set("saver.run_open", plan.run)
        self.log.info(
            "run %d: writing into %s, %d volume(s) per chunk, compression %s",
            plan.run,
            plan.out_dir,
            plan.volumes_per_chunk,
            plan.compression,
        )

    def _close_run(self) -> None:
        writer, plan = self._writer, self._plan
        self._writer = None
        writer.close()
        self._status.set("saver.chunks", writer.chunks_completed)
        self._status.set("saver.run_open", -1)
        self._status.set("saver.run_done", plan.run)
        self.log.info(
            "run %d: files closed, %d volume(s) in %d chunk(s)",
            plan.run,
            writer.volumes_written,
            writer.chunks_completed,
        )

    def _update_rate(self, nbytes: int) -> None:
        self._rate_bytes += nbytes
        now = time.monotonic()
        if now - self._rate_start >= 1.0:
            self._status.set("saver.mbps", self._rate_bytes / (now - self._rate_start) / 1e6)
            self._rate_bytes = 0
            self._rate_start = now

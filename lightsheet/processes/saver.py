"""The saver process: writes every volume of the volume ring into chunked HDF5, never dropping one.

It writes straight from shared memory (no copy): each plane from the frame-ring slot the volume
slot names (``frame_slot``; the dispatcher holds those frame slots until this volume slot is
released) or from the volume slot itself (a copied or dark-subtracted plane). It releases the
volume slot, and only then may the dispatcher reuse it and give its frames back. When it falls
behind, the frames it has not written stay held and the dispatcher blocks on the full volume
ring: the back-pressure reaches the frame ring, where the camera counts what it cannot place.
A disk that has no room for the next chunk ends the run as a fault ("disk full (...)") with every
completed chunk indexed, before the disk is so full that the index or metadata cannot be written.
dataset.h5 is rewritten by a child of this process (``storage/index_child.py``), whose cost grows
with the run: the saver hands it the chunk counts and goes on writing. Nor does it wait for a
chunk's fsync: each completed chunk is published on a thread while the next one is written
(``storage/publish_behind.py``), so its ``chunks`` count trails the files by at most one chunk
until the run closes.

It times its writes: ``busy`` in its status is the share of the last second spent writing, and
``RunClosed`` carries the run's bytes and writing time, so a run's record says how fast the sink
took its data (bytes / writing time) and whether the sink or lightsheet was the limit. The first
second of a run it spends ``BUSY_WARNING`` or more of writing is logged once: the sink is near its
limit, and a slower second of it fills the frame ring.

Its desired state is the run whose files are open (``SaverState``). When the run's END marker
arrives it closes the files and sends ``RunClosed`` with the run's final counts, carried in-band
from the camera and the dispatcher, so they are that run's whatever starts after it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lightsheet.processes.commands import RunClosed, RunPlan, SaverState
from lightsheet.processes.frames import KIND_END, KIND_VOID, volume_planes
from lightsheet.processes.status import SaverStatus
from lightsheet.runtime.commands import CommandRefused
from lightsheet.runtime.ring import Ring, RingSpec, Slot
from lightsheet.runtime.status import StatusBoard
from lightsheet.runtime.worker import Worker, WorkerFailure
from lightsheet.storage.chunks import ChunkWriter
from lightsheet.storage.space import DiskFull

READ_TIMEOUT_S = 0.1
SAVER_HEARTBEAT_TIMEOUT_S = 30.0
INDEX_BUDGET = 20.0  # dataset.h5 rewrites take at most 1/20 of the saver's time (see chunks.py)
BUSY_WARNING = 0.9  # share of a second spent writing that is logged once per run


class SaverWorker(Worker):
    def __init__(
        self,
        volumes: RingSpec,
        status: StatusBoard,
        frames: RingSpec | None = None,
        **worker_kwargs: Any,
    ) -> None:
        """``frames``: the frame ring, whose slots volumes may name (None: every plane is in
        its volume slot)."""
        # One step writes a volume and may fsync a whole chunk file: seconds on a slow disk.
        worker_kwargs.setdefault("heartbeat_timeout_s", SAVER_HEARTBEAT_TIMEOUT_S)
        super().__init__("saver", **worker_kwargs)
        self._volumes_spec = volumes
        self._frames_spec = frames
        self._board = status

    def setup(self) -> None:
        self._status = self._board.section(SaverStatus)
        self._frames: Ring | None = None
        if self._frames_spec is not None:
            self._frames = self._frames_spec.attach()
        self._volumes = self._volumes_spec.attach()
        self._plan: RunPlan | None = None
        self._writer: ChunkWriter | None = None
        self._rate_bytes = 0
        self._rate_write_s = 0.0
        self._rate_start = time.monotonic()
        self._run_bytes = 0
        self._run_write_s = 0.0
        self._busy_warned = False

    def on_settings(self, settings: object) -> object:
        if not isinstance(settings, SaverState):
            raise CommandRefused(f"not a saver state: {type(settings).__name__}")
        plan = settings.plan
        if plan is None or (self._plan is not None and plan.run == self._plan.run):
            return None
        if self._writer is not None and self._plan is not None:
            self.log.warning("run %d replaced by run %d before its end", self._plan.run, plan.run)
            self._close_run(None)
        self._open_run(plan)
        return None

    def step(self) -> None:
        slot = self._volumes.acquire_read(READ_TIMEOUT_S)
        if slot is None:
            self._update_rate(0, 0.0)
            return
        try:
            self._handle(slot)
        finally:
            self._volumes.release(slot)

    def teardown(self) -> None:
        # Drain what the dispatcher already handed over, then close: a stop never loses a volume.
        volumes = getattr(self, "_volumes", None)
        try:
            while volumes is not None and self._writer is not None:
                slot = volumes.acquire_read(0)
                if slot is None:
                    self._close_run(None)
                    break
                try:
                    self._handle(slot)
                finally:
                    volumes.release(slot)
        finally:
            for ring in (volumes, getattr(self, "_frames", None)):
                if ring is not None:
                    ring.close()

    def _handle(self, slot: Slot) -> None:
        meta = slot.meta
        run = int(meta["run"])
        kind = int(meta["kind"])
        if kind == KIND_VOID:
            return
        plan, writer = self._plan, self._writer
        if plan is None or writer is None or run != plan.run:
            self.log.error("volume of run %d arrived with no open run for it; discarded", run)
            return
        if kind == KIND_END:
            self._close_run(meta)
            return
        planes = self._planes_of(slot, plan)
        started = time.perf_counter()
        try:
            writer.write_planes(planes, meta["frames"][: plan.planes])
        except DiskFull as exc:
            # Stop while the reserve still holds the index and the metadata: every completed
            # chunk stays readable and indexed; the run becomes a fault that says why.
            self._close_run(None)
            raise WorkerFailure(str(exc)) from None
        write_s = time.perf_counter() - started
        status = self._status
        status.volumes += 1
        nbytes = sum(plane.nbytes for plane in planes)
        status.bytes += nbytes
        status.chunks = writer.chunks_completed
        self._run_bytes += nbytes
        self._run_write_s += write_s
        self._update_rate(nbytes, write_s)

    def _planes_of(self, slot: Slot, plan: RunPlan) -> list[np.ndarray]:
        """Each plane's pixels where the dispatcher left them: a frame slot or the volume slot."""
        frames = self._frames
        try:
            return volume_planes(
                slot.data, slot.meta, plan.planes, plan.height, plan.width,
                None if frames is None else frames.slot_data,
            )  # fmt: skip
        except ValueError as exc:
            raise WorkerFailure(f"volume {int(slot.meta['volume'])}: {exc}") from None

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
            chunk_seconds=plan.chunk_seconds,
            index_budget=INDEX_BUDGET,
            index_in_child=True,  # the saver never stops writing for a rewrite
            publish_behind=True,  # ... nor for a chunk's fsync
        )
        status = self._status
        status.reset(SaverStatus.volumes, SaverStatus.chunks, SaverStatus.bytes)
        status.run_open = plan.run
        self._run_bytes, self._run_write_s, self._busy_warned = 0, 0.0, False
        self.log.info(
            "run %d: writing into %s, %d volume(s) per chunk, compression %s",
            plan.run,
            plan.out_dir,
            plan.volumes_per_chunk,
            plan.compression,
        )

    def _close_run(self, end: Any) -> None:
        """Close the files; ``end`` is the END marker's metadata, None when the run was cut off."""
        writer, plan = self._writer, self._plan
        assert writer is not None and plan is not None
        self._writer = None
        writer.close()
        status = self._status
        status.chunks = writer.chunks_completed
        status.run_open = -1
        status.run_done = plan.run
        self.log.info(
            "run %d: files closed, %d volume(s) in %d chunk(s)",
            plan.run,
            writer.volumes_written,
            writer.chunks_completed,
        )
        acquired = -1 if end is None else int(end["frames_acquired"])
        self.notify(
            RunClosed(
                run=plan.run,
                ended=acquired >= 0,
                frames_acquired=max(acquired, 0),
                frames_dropped=0 if end is None else int(end["frames_dropped"]),
                frames_missing=0 if end is None else int(end["frames_missing"]),
                volumes_saved=writer.volumes_written,
                chunks=writer.chunks_completed,
                bytes_written=self._run_bytes,
                write_s=self._run_write_s,
            )
        )

    def _update_rate(self, nbytes: int, write_s: float) -> None:
        """Throughput and busy share, once a second; the first busy second of a run is logged."""
        self._rate_bytes += nbytes
        self._rate_write_s += write_s
        now = time.monotonic()
        elapsed = now - self._rate_start
        if elapsed < 1.0:
            return
        busy = min(self._rate_write_s / elapsed, 1.0)
        status = self._status
        status.mbps = self._rate_bytes / elapsed / 1e6
        status.busy = busy
        if busy >= BUSY_WARNING and self._plan is not None and not self._busy_warned:
            self._busy_warned = True
            self.log.warning(
                "run %d: %.0f %% of the last second spent writing, at %.0f MB/s while writing: "
                "the sink is near its limit, and a slower second of it fills the frame ring",
                self._plan.run, 100 * busy, self._rate_bytes / max(self._rate_write_s, 1e-9) / 1e6,
            )  # fmt: skip
        self._rate_bytes, self._rate_write_s, self._rate_start = 0, 0.0, now

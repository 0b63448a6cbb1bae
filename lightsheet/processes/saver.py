"""The saver process: writes every volume of the volume ring into chunked HDF5, never dropping one.

It writes straight from shared memory (no copy): each plane from the frame-ring slot the volume
slot names (``frame_slot``; the dispatcher holds those frame slots until this volume slot is
released) or from the volume slot itself (a copied or dark-subtracted plane). Uncompressed planes
are written on a thread while the saver prepares the next volume (``ChunkWriter.start_planes``),
so a volume slot is released once its volume's write has landed, in the order read; only then may
the dispatcher reuse it and give its frames back. At most one slot is held that way. When it falls
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

import contextlib
import time
from collections import deque
from collections.abc import Callable
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
from lightsheet.storage.direct_planes import describe_ways
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
        # Volume slots whose planes are still being written, oldest first (at most one).
        self._held: deque[Slot] = deque()
        self._rate_bytes = 0
        self._rate_write_s = 0.0
        self._rate_start = time.monotonic()
        self._seen_write_s = 0.0  # the open run's writer.write_seconds, counted so far
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
        slot = self._volumes.acquire_read(0)
        if slot is None and self._held:
            # No volume waiting: the saver is ahead of the disk, and the one in flight lands and
            # gives its slot back now (its frames go back to the camera as soon as written).
            self._land()
        elif slot is None:
            slot = self._volumes.acquire_read(READ_TIMEOUT_S)
        if slot is None:
            self._update_rate(0)
            return
        self._take(slot)

    def teardown(self) -> None:
        # Drain what the dispatcher already handed over, then close: a stop never loses a volume.
        volumes = getattr(self, "_volumes", None)
        try:
            while volumes is not None and self._writer is not None:
                slot = volumes.acquire_read(0)
                if slot is None:
                    self._close_run(None)
                    break
                self._take(slot)
        finally:
            for ring in (volumes, getattr(self, "_frames", None)):
                if ring is not None:
                    ring.close()

    def _take(self, slot: Slot) -> None:
        """Handle a slot, and give slots back in order once nothing reads their planes: this
        one at once, or, while its volume is being written, after its write has landed."""
        try:
            in_flight = self._handle(slot)
        except BaseException:
            if self._writer is not None and self._writer.volumes_in_flight:
                with contextlib.suppress(Exception):  # the write in flight ends first
                    self._close_run(None)
            self._release_landed()
            self._volumes.release(slot)
            raise
        if in_flight:
            self._held.append(slot)
        self._release_landed()
        if not in_flight:
            self._volumes.release(slot)

    def _release_landed(self) -> None:
        """Give back the held slots whose volumes' writes have landed (all, with no run open)."""
        in_flight = 0 if self._writer is None else self._writer.volumes_in_flight
        while len(self._held) > in_flight:
            self._volumes.release(self._held.popleft())

    def _land(self) -> None:
        """Wait for the volume being written, then give its slot back."""
        writer = self._writer
        if writer is not None and writer.volumes_in_flight:
            self._guard_disk(writer.finish_volumes)
            self._count_write_time(writer)
        self._release_landed()

    def _guard_disk(self, write: Callable[[], None]) -> None:
        try:
            write()
        except DiskFull as exc:
            # Stop while the reserve still holds the index and the metadata: every completed
            # chunk stays readable and indexed; the run becomes a fault that says why.
            self._close_run(None)
            raise WorkerFailure(str(exc)) from None

    def _handle(self, slot: Slot) -> bool:
        """Write the slot's volume, or act on its marker; True while its planes are still being
        written (the slot stays held)."""
        meta = slot.meta
        run = int(meta["run"])
        kind = int(meta["kind"])
        if kind == KIND_VOID:
            self._land()
            return False
        plan, writer = self._plan, self._writer
        if plan is None or writer is None or run != plan.run:
            self._land()
            self.log.error("volume of run %d arrived with no open run for it; discarded", run)
            return False
        if kind == KIND_END:
            self._close_run(meta)
            return False
        planes = self._planes_of(slot, plan)
        self._guard_disk(lambda: writer.start_planes(planes, meta["frames"][: plan.planes]))
        status = self._status
        status.volumes += 1
        nbytes = sum(plane.nbytes for plane in planes)
        status.bytes += nbytes
        status.chunks = writer.chunks_completed
        self._count_write_time(writer)
        self._update_rate(nbytes)
        return writer.volumes_in_flight > 0

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
        self._seen_write_s, self._busy_warned = 0.0, False
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
        try:
            writer.close()  # the volume in flight lands first
        finally:
            self._release_landed()
        self._count_write_time(writer)
        status = self._status
        status.chunks = writer.chunks_completed
        status.run_open = -1
        status.run_done = plan.run
        ways = writer.planes_by_way
        self.log.info(
            "run %d: files closed, %d volume(s) in %d chunk(s); uncompressed planes written %s",
            plan.run, writer.volumes_written, writer.chunks_completed,
            describe_ways(ways._asdict()) or "none",
        )  # fmt: skip
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
                bytes_written=writer.bytes_written,
                write_s=writer.write_seconds,
                planes_by_way=ways,
            )
        )

    def _count_write_time(self, writer: ChunkWriter) -> None:
        """Add the writing time of the volumes landed since the last call to the second's."""
        total = writer.write_seconds
        self._rate_write_s += total - self._seen_write_s
        self._seen_write_s = total

    def _update_rate(self, nbytes: int) -> None:
        """Throughput and busy share, once a second; the first busy second of a run is logged."""
        self._rate_bytes += nbytes
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

"""A sashimi-style pipeline, the shape lightsheet replaces, built here as a baseline.

Three spawned processes joined by shared-memory *array queues*: a fixed set of array slots in
one shared block, with two small `multiprocessing.Queue`s of slot numbers (free and full). A put
copies the array into a free slot, a get copies it out of a full one and frees the slot; only the
slot number is pickled. This is how sashimi moves frames between its camera, dispatcher and
saver processes: no pixel is pickled, but every hop copies each frame twice.

- camera: makes each frame in its own buffer (one pass, as our simulated camera does), puts it.
- dispatcher: gets frames, stacks `planes` of them into a volume, puts the volume.
- saver: gets volumes, gathers them into a chunk in RAM and writes each chunk as a new HDF5 file
  (one dataset per file), then fsyncs it and gives it its final name.

On a tmpfs (``sweep``) a thread of the benchmark's process deletes each chunk file once it has its
final name, as the pipeline's reaper deletes lightsheet's checked chunks there: every contender
then writes into pages the sink has freed, not some into fresh memory (on this VM fresh memory
is four times slower to fill, the host backing it on first touch).

The camera either waits for a free slot (``rate_fps`` 0: the pipeline's average speed, its
stalls absorbed by the waiting) or free-runs at ``rate_fps`` and loses a frame that finds every
slot taken, as sashimi's does (its queue raises ``Full``); ``sashimi_ramp.py`` finds the highest
rate that loses none, the figure lightsheet's own ramp reports.

Copies of each frame's pixels after the camera's buffer: into the frame queue, out of it, into
the volume, into the volume queue, out of it, into the chunk: 6, then the write into the file.
Throughput is the bytes in the files over the time from the first frame to the last file
fsynced; the queues block, so nothing is dropped.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections import deque
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np

from benchmarks.baselines import (
    DRAIN_TIMEOUT_S,
    GB,
    STARTUP_TIMEOUT_S,
    _base_frame,
    _end,
    _first_failure,
    _Results,
    _run_for,
    writable_budget,
)
from lightsheet.runtime.shm import attach_block, create_block, release_block

_log = logging.getLogger(__name__)

FRAME_SLOTS = 16
VOLUME_SLOTS = 4
CHUNK_BYTES = 64 * 10**6  # volumes gathered in RAM for each file
CHUNK_PREFIX = "sashimi-chunk-"
CHUNK_GLOB = f"{CHUNK_PREFIX}*.h5"  # final names: written, fsynced and closed
SWEEP_S = 0.05
FREED_WAIT_S = 0.001  # a free slot's number in flight between processes
END = -1
COPIES_PER_FRAME = 6


class ArrayQueue:
    """Fixed-shape arrays through a shared block: put copies in, get copies out."""

    def __init__(self, ctx: mp.context.SpawnContext, slots: int, shape: tuple[int, ...],
                 name: str) -> None:  # fmt: skip
        self.shape = shape
        self.slots = slots
        nbytes = int(np.prod(shape)) * 2 * slots
        self._shm = create_block("sashimi", name, nbytes)
        self.shm_name = self._shm.name
        self.free: Queue = ctx.Queue()
        self.full: Queue = ctx.Queue()
        for slot in range(slots):
            self.free.put(slot)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_shm"] = None  # children attach by name
        return state

    def attach(self) -> None:
        self._shm = attach_block(self.shm_name)
        self._view = np.ndarray((self.slots, *self.shape), dtype=np.uint16, buffer=self._shm.buf)

    def put(self, array: np.ndarray) -> None:
        slot = self.free.get()
        self._view[slot][...] = array
        self.full.put(slot)

    def try_put(self, array: np.ndarray) -> bool:
        """Put without waiting for a consumer; False when every slot is taken (sashimi's camera,
        whose queue raises ``Full`` there, would lose the frame). A slot freed a moment ago may
        still be in the freeing process's feeder thread: ``FREED_WAIT_S`` allows for that."""
        try:
            slot = self.free.get(timeout=FREED_WAIT_S)
        except queue.Empty:
            return False
        self._view[slot][...] = array
        self.full.put(slot)
        return True

    def get(self) -> np.ndarray | None:
        slot = self.full.get()
        if slot == END:
            return None
        out = self._view[slot].copy()
        self.free.put(slot)
        return out

    def end(self) -> None:
        self.full.put(END)

    def close(self, unlink: bool) -> None:
        if hasattr(self, "_view"):
            del self._view
        if self._shm is not None:
            release_block(self._shm, unlink=unlink)
            self._shm = None


def _camera(frames: ArrayQueue, results: Queue, stop: Event, shape: tuple[int, int],
            rate_fps: float) -> None:  # fmt: skip
    """Frames as fast as the queue takes them (``rate_fps`` 0: the camera waits for a slot), or
    free-running at ``rate_fps``, a frame that finds no free slot lost, as a real camera's is."""
    frames.attach()
    base = _base_frame(shape)
    buffer = np.empty(shape, dtype=np.uint16)  # the camera's own buffer
    produced = dropped = 0
    period = 1.0 / rate_fps if rate_fps > 0 else 0.0
    started = due = time.perf_counter()
    while not stop.is_set():
        if period and (wait := due - time.perf_counter()) > 0 and stop.wait(wait):
            break
        np.add(base, np.uint16(produced & 0x3F), out=buffer)
        if produced == 0:
            results.put(("first_frame", time.time()))
        if not period:
            frames.put(buffer)
        elif not frames.try_put(buffer):
            dropped += 1
        produced += 1
        due += period
    elapsed = time.perf_counter() - started
    frames.end()
    results.put(("produced", {"frames": produced, "dropped": dropped,
                              "fps": produced / elapsed if elapsed > 0 else 0.0}))  # fmt: skip
    frames.close(unlink=False)


def _dispatcher(frames: ArrayQueue, volumes: ArrayQueue, planes: int) -> None:
    frames.attach()
    volumes.attach()
    volume = np.empty(volumes.shape, dtype=np.uint16)
    plane = 0
    while (frame := frames.get()) is not None:
        volume[plane] = frame
        plane += 1
        if plane == planes:
            volumes.put(volume)
            plane = 0
    volumes.end()
    frames.close(unlink=False)
    volumes.close(unlink=False)


def _saver(volumes: ArrayQueue, results: Queue, stop: Event, folder: str, budget: int,
           chunk_bytes: int) -> None:  # fmt: skip
    import h5py

    volumes.attach()
    per_chunk = max(1, chunk_bytes // (int(np.prod(volumes.shape)) * 2))
    chunk = np.empty((per_chunk, *volumes.shape), dtype=np.uint16)
    held = written = files = saved = on_sink = 0
    kept: deque[tuple[Path, int]] = deque()  # its files on the sink, oldest first, with bytes
    while True:
        volume = volumes.get()
        if volume is not None:
            chunk[held] = volume
            held += 1
        if held and (held == per_chunk or volume is None):
            path = Path(folder) / f"{CHUNK_PREFIX}{files:06d}.h5"
            part = path.with_suffix(".part")
            with h5py.File(part, "w") as f:
                f.create_dataset("data", data=chunk[:held])
            fd = os.open(part, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            os.replace(part, path)
            files += 1
            saved += held
            written += chunk[:held].nbytes
            kept.append((path, chunk[:held].nbytes))
            on_sink += chunk[:held].nbytes
            while kept and not kept[0][0].exists():  # the sweeper deletes the oldest first
                on_sink -= kept.popleft()[1]
            held = 0
            # The budget bounds what is on the sink: deleted files no longer count.
            if on_sink >= budget and not stop.is_set():
                stop.set()
        if volume is None:
            break
    results.put(("saved", {"volumes": saved, "bytes": written, "closed_at": time.time()}))
    volumes.close(unlink=False)


class _Sweeper:
    """Deletes the saver's finished chunk files as they appear (a thread of this process)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._stop = threading.Event()
        self.deleted = 0
        self._thread = threading.Thread(target=self._run, name="sashimi-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(SWEEP_S)
            for path in sorted(self._folder.glob(CHUNK_GLOB)):
                path.unlink(missing_ok=True)
                self.deleted += 1
            if stopping:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def sashimi_pipeline_gbps(
    folder: Path, frame_shape: tuple[int, int] = (2048, 2048), planes: int = 10,
    seconds: float = 30.0, sweep: bool = False, chunk_bytes: int = CHUNK_BYTES,
    rate_fps: float = 0.0, slots: tuple[int, int] = (FRAME_SLOTS, VOLUME_SLOTS),
) -> dict[str, float]:  # fmt: skip
    """Camera -> dispatcher -> saver through shared-memory array queues; GB/s to the files.
    ``sweep``: delete each chunk file once it is complete (on a tmpfs, as the pipeline's are).
    ``rate_fps`` > 0: the camera free-runs at that rate and ``dropped`` counts the frames it
    lost; ``slots``: frames and volumes the two queues hold."""
    folder = Path(folder)
    frame_slots, volume_slots = slots
    volume_bytes = planes * frame_shape[0] * frame_shape[1] * 2
    in_flight = (frame_slots // planes + volume_slots + 2) * volume_bytes + chunk_bytes
    budget = writable_budget(folder) - in_flight
    if budget < volume_bytes:
        raise OSError(f"not enough free space in {folder} for the sashimi-style benchmark")
    ctx = mp.get_context("spawn")
    frames = ArrayQueue(ctx, frame_slots, frame_shape, f"frames{os.getpid()}")
    volumes = ArrayQueue(ctx, volume_slots, (planes, *frame_shape), f"volumes{os.getpid()}")
    results: Queue = ctx.Queue()
    stop = ctx.Event()
    camera_args = (frames, results, stop, frame_shape, rate_fps)
    processes: list[BaseProcess] = [
        ctx.Process(target=_camera, args=camera_args, name="sashimi-cam"),
        ctx.Process(target=_dispatcher, args=(frames, volumes, planes), name="sashimi-disp"),
        ctx.Process(
            target=_saver,
            args=(volumes, results, stop, str(folder), budget, chunk_bytes),
            name="sashimi-saver",
        ),
    ]
    received = _Results(results, processes)
    sweeper = _Sweeper(folder) if sweep else None
    try:
        for p in processes:
            p.start()
        first_frame_at = received.wait_for("first_frame", STARTUP_TIMEOUT_S)
        _run_for(seconds, processes, stop)
        stop.set()
        produced = received.wait_for("produced", DRAIN_TIMEOUT_S)
        saved = received.wait_for("saved", DRAIN_TIMEOUT_S)
        _end(processes, DRAIN_TIMEOUT_S)
    finally:
        stop.set()
        started = [p for p in processes if p.pid is not None]
        _end(started, 0.0 if _first_failure(started) else 10.0)
        if sweeper is not None:
            sweeper.stop()
        for q in (frames, volumes):
            q.close(unlink=True)
            for inner in (q.free, q.full):
                inner.close()
                inner.cancel_join_thread()
        results.close()
        results.cancel_join_thread()
        for path in folder.glob(f"{CHUNK_PREFIX}*"):  # .part files too
            path.unlink(missing_ok=True)
    duration = saved["closed_at"] - first_frame_at
    return {"gbps": saved["bytes"] / duration / GB, "frames": saved["volumes"] * planes,
            "seconds": duration, "copies_per_frame": COPIES_PER_FRAME,
            "files_deleted": sweeper.deleted if sweeper else 0, "requested_fps": rate_fps,
            "achieved_fps": produced["fps"], "dropped": produced["dropped"]}  # fmt: skip

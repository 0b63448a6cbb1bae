"""The figures our pipeline's throughput is judged against, and what the benchmarks share.

The ceiling, the sink alone, is ``raw_write.raw_disk_gbps``. `queue_pipeline_gbps` is the floor
we replace: the camera -> dispatcher -> saver shape of older acquisition systems, with frames and
volumes pickled through blocking `multiprocessing.Queue`s. It writes real, non-zero bytes and
fsyncs before the clock stops, so page-cache speed never passes for disk speed. GB = 1e9 bytes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import shutil
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import wait as wait_for_sentinels
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.sinks import tmpfs_cap

_log = logging.getLogger(__name__)

GB = 1e9
FRAME_QUEUE_SIZE = 16
VOLUME_QUEUE_SIZE = 4
# Space left untouched on the target filesystem: a benchmark must never fill the disk.
MIN_FREE_BYTES = 2 * 10**9
FREE_FRACTION_KEPT = 0.05
# How long children may take to spawn and import numpy/h5py, and to drain after the stop.
STARTUP_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 120.0
_POLL_S = 0.2


def _base_frame(frame_shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Camera-like 12-bit noise: random so no filesystem or compressor can shortcut it."""
    rng = np.random.default_rng(seed)
    return rng.integers(100, 4000, size=frame_shape, dtype=np.uint16)


def writable_budget(folder: Path) -> int:
    """Bytes we may write to `folder` while leaving a safe margin free; on a tmpfs (RAM) no
    more than `sinks.tmpfs_cap` either."""
    usage = shutil.disk_usage(folder)
    reserve = max(MIN_FREE_BYTES, int(usage.total * FREE_FRACTION_KEPT))
    budget = max(0, usage.free - reserve)
    cap = tmpfs_cap(folder)
    return budget if cap is None else min(budget, cap)


def _produce(frames: Queue, results: Queue, stop: Event, frame_shape: tuple[int, int]) -> None:
    """A simulated camera: a fresh frame per put, as fast as the queue takes them."""
    base = _base_frame(frame_shape)
    produced = 0
    first_frame_at: float | None = None
    while not stop.is_set():
        # A fresh array each time: the queue pickles it later, in its feeder thread.
        frame = base + np.uint16(produced & 0x3F)
        if first_frame_at is None:
            first_frame_at = time.time()
            results.put(("first_frame", first_frame_at))
        frames.put(frame)
        produced += 1
    frames.put(None)
    results.put(("produced", produced))


def _dispatch(frames: Queue, volumes: Queue, planes: int) -> None:
    """Stack `planes` consecutive frames per volume; a partial volume at the stop is dropped."""
    volume: np.ndarray | None = None
    plane = 0
    while (frame := frames.get()) is not None:
        if volume is None:
            # A new array per volume: reusing one would race the queue's feeder thread.
            volume = np.empty((planes, *frame.shape), dtype=frame.dtype)
        volume[plane] = frame
        plane += 1
        if plane == planes:
            volumes.put(volume)
            volume, plane = None, 0
    volumes.put(None)


def _save(volumes: Queue, results: Queue, stop: Event, path: str, budget_bytes: int) -> None:
    """Append each volume to a resizable (t, z, y, x) dataset, then fsync before reporting.

    Past `budget_bytes` it asks for the stop rather than fill the disk, and saves what is queued.
    """
    import h5py

    saved = 0
    written = 0
    with h5py.File(path, "w") as f:
        dataset: h5py.Dataset | None = None
        while (volume := volumes.get()) is not None:
            if dataset is None:
                dataset = f.create_dataset(
                    "data",
                    shape=(0, *volume.shape),
                    maxshape=(None, *volume.shape),
                    dtype=volume.dtype,
                    chunks=(1, 1, *volume.shape[1:]),
                )
            dataset.resize(saved + 1, axis=0)
            dataset[saved] = volume
            saved += 1
            written += volume.nbytes
            if written >= budget_bytes and not stop.is_set():
                _log.warning("queue pipeline stopped early: %d bytes use its free space", written)
                stop.set()
    # h5py has closed the file; fsync through a second descriptor flushes the same inode.
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    results.put(("saved", {"volumes": saved, "bytes": written, "closed_at": time.time()}))


def _first_failure(processes: list[BaseProcess]) -> BaseProcess | None:
    return next((p for p in processes if p.exitcode not in (None, 0)), None)


class _Results:
    """Tagged messages from the children; they may arrive in any order across processes."""

    def __init__(self, results: Queue, processes: list[BaseProcess]) -> None:
        self._results = results
        self._processes = processes
        self._received: dict[str, Any] = {}

    def wait_for(self, tag: str, timeout: float) -> Any:
        """The value sent under `tag`, failing fast if a child dies while we wait."""
        deadline = time.monotonic() + timeout
        while tag not in self._received:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {tag!r} from the queue pipeline within {timeout:g} s")
            try:
                got_tag, value = self._results.get(timeout=_POLL_S)
            except queue.Empty:
                failed = _first_failure(self._processes)
                if failed is not None:
                    raise RuntimeError(
                        f"{failed.name} died with exit code {failed.exitcode}"
                    ) from None
                continue
            self._received[got_tag] = value
        return self._received[tag]


def _run_for(seconds: float, processes: list[BaseProcess], stop: Event) -> None:
    """Run until `seconds` pass or the saver asks to stop; fail as soon as a child exits."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0 and not stop.is_set():
        if wait_for_sentinels([p.sentinel for p in processes], timeout=min(remaining, _POLL_S)):
            failed = _first_failure(processes) or next(p for p in processes if not p.is_alive())
            raise RuntimeError(f"{failed.name} exited early with exit code {failed.exitcode}")


def _end(processes: list[BaseProcess], timeout: float) -> None:
    """Join the children; terminate, then kill, whatever did not exit by itself."""
    deadline = time.monotonic() + timeout
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            _log.warning("%s did not exit: terminating it", p.name)
            p.terminate()
            p.join(5.0)
        if p.is_alive():
            p.kill()
            p.join()


def queue_pipeline_gbps(
    folder: Path,
    frame_shape: tuple[int, int] = (2048, 2048),
    planes: int = 10,
    seconds: float = 30.0,
    *,
    on_spawn: Callable[[Mapping[int, str]], None] | None = None,
) -> dict[str, float]:
    """Camera -> dispatcher -> saver as three spawned processes joined by pickling queues.

    Throughput is the bytes that reached the HDF5 file over the wall time from the first frame
    to the saver's close, fsync included; "frames" counts frames in the file (a partial volume
    left at the stop is not saved). The queues block, so no frame is ever dropped.
    `on_spawn` receives {pid: name} of the children once started (e.g. MemorySampler.set_names).
    """
    folder = Path(folder)
    frame_bytes = frame_shape[0] * frame_shape[1] * np.dtype(np.uint16).itemsize
    # After the stop the saver still writes what the queues and the dispatcher hold.
    in_flight = (FRAME_QUEUE_SIZE + (VOLUME_QUEUE_SIZE + 2) * planes) * frame_bytes
    budget = writable_budget(folder) - in_flight
    if budget < planes * frame_bytes:
        raise OSError(f"not enough free space in {folder} for the queue pipeline benchmark")
    ctx = mp.get_context("spawn")
    frames: Queue = ctx.Queue(maxsize=FRAME_QUEUE_SIZE)
    volumes: Queue = ctx.Queue(maxsize=VOLUME_QUEUE_SIZE)
    results: Queue = ctx.Queue()
    stop = ctx.Event()
    path = folder / f"queue-baseline-{os.getpid()}.h5"
    processes: list[BaseProcess] = [
        ctx.Process(
            target=_produce, args=(frames, results, stop, frame_shape), name="queue-producer"
        ),
        ctx.Process(target=_dispatch, args=(frames, volumes, planes), name="queue-dispatcher"),
        ctx.Process(
            target=_save,
            args=(volumes, results, stop, str(path), budget),
            name="queue-saver",
        ),
    ]
    received = _Results(results, processes)
    try:
        for p in processes:
            p.start()
        if on_spawn is not None:
            on_spawn({p.pid: p.name for p in processes if p.pid is not None})
        first_frame_at = received.wait_for("first_frame", STARTUP_TIMEOUT_S)
        _run_for(seconds, processes, stop)
        stop.set()
        produced = received.wait_for("produced", DRAIN_TIMEOUT_S)
        saved = received.wait_for("saved", DRAIN_TIMEOUT_S)
        _end(processes, DRAIN_TIMEOUT_S)
        failed = _first_failure(processes)
        if failed is not None:
            raise RuntimeError(f"{failed.name} ended with exit code {failed.exitcode}")
    finally:
        stop.set()
        started = [p for p in processes if p.pid is not None]
        _end(started, 0.0 if _first_failure(started) else 10.0)
        for q in (frames, volumes, results):
            q.close()
            q.cancel_join_thread()
        path.unlink(missing_ok=True)
    duration = saved["closed_at"] - first_frame_at
    _log.info("queue pipeline: %d frames made, %d volumes saved", produced, saved["volumes"])
    return {
        "gbps": saved["bytes"] / duration / GB,
        "frames": saved["volumes"] * planes,
        "seconds": duration,
    }

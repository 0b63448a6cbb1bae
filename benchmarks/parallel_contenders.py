"""The ways `benchmarks/parallel.py` runs the same two-array correction over a stack
(``image −= dark; image ×= gain`` for each image), each of which can be cancelled partway so the
time from the cancel to the workers being idle can be measured, and the machine's limit.

- serial numpy loop: what one writes by hand, whole images at a time (the speed-up baseline);
- serial, our item function: `process_plane` in a plain loop (it works in cache-sized bands of
  rows, so this row shows what that alone gains);
- mantid: a spawned multiprocessing pool started once, the stack in shared memory, but the dark
  and gain images pickled with every task (the weakness of MantidImaging's pool), and stopped
  only by terminating it, which leaves the items in hand half written;
- ours: `ProcessingPool.run_in_place` on the shared stack (processes);
- threads: the same with the threads backend;
- dask: a LocalCluster on 127.0.0.1; the images are scattered to the workers, corrected there
  and gathered back into the stack (dask has no shared memory: that transfer is its cost).
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor

import numpy as np

from lightsheet.processing.corrections import BLOCK_BYTES, process_plane
from lightsheet.processing.pool import ProcessingPool
from lightsheet.processing.shared_array import ArrayHandle, SharedArray, attach

Cancel = Callable[[], None]


class Stack:
    """The benchmark's data: a shared float32 stack, dark and gain images, presence flags."""

    def __init__(self, stack: SharedArray, dark: SharedArray, gain: SharedArray, present):
        self.stack, self.dark, self.gain, self.present = stack, dark, gain, present

    @property
    def images(self) -> int:
        return self.stack.array.shape[0]


def _mantid_item(index: int, handle: ArrayHandle, dark: np.ndarray, gain: np.ndarray) -> int:
    process_plane(attach(handle)[index], True, dark=dark, gain=gain)
    return index


def _dask_item(image: np.ndarray, dark: np.ndarray, gain: np.ndarray) -> np.ndarray:
    out = np.array(image, copy=True)
    process_plane(out, True, dark=dark, gain=gain)
    return out


def _plain(image: np.ndarray, dark: np.ndarray, gain: np.ndarray) -> None:
    image -= dark
    image *= gain


def _ours(image: np.ndarray, dark: np.ndarray, gain: np.ndarray) -> None:
    process_plane(image, True, dark=dark, gain=gain)


class Serial:
    name = "serial numpy loop"
    item = staticmethod(_plain)

    def __init__(self, data: Stack, workers: int) -> None:
        self.data = data
        self._stop = threading.Event()

    def run(self, on_item: Callable[[int], None] | None = None) -> None:
        self._stop.clear()
        stack, dark, gain = self.data.stack.array, self.data.dark.array, self.data.gain.array
        for index in range(self.data.images):
            if self._stop.is_set():
                return
            self.item(stack[index], dark, gain)
            if on_item:
                on_item(index + 1)

    def cancel(self) -> None:
        self._stop.set()

    def close(self) -> None:
        return None


class SerialOurs(Serial):
    name = "serial, our item function"
    item = staticmethod(_ours)


class MantidStyle:
    name = "MantidImaging-style pool"

    def __init__(self, data: Stack, workers: int) -> None:
        self.data = data
        self.workers = workers
        self._ctx = mp.get_context("spawn")
        self._pool = self._ctx.Pool(workers)
        self._pool.map(abs, range(workers))  # started before the clock, like ours
        self._stopped = threading.Event()

    def run(self, on_item: Callable[[int], None] | None = None) -> None:
        self._stopped.clear()
        task = functools.partial(
            _mantid_item,
            handle=self.data.stack.handle,
            dark=self.data.dark.array.copy(),  # plain arrays: pickled into every task
            gain=self.data.gain.array.copy(),
        )
        results = self._pool.imap(task, range(self.data.images), chunksize=1)
        done = 0
        while done < self.data.images and not self._stopped.is_set():
            try:
                results.next(timeout=0.05)
            except mp.TimeoutError:
                continue
            done += 1
            if on_item:
                on_item(done)

    def cancel(self) -> None:
        """Its only stop: terminate the workers, whatever item they are writing."""
        self._stopped.set()
        self._pool.terminate()
        self._pool.join()
        self._pool = self._ctx.Pool(self.workers)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


class Ours:
    name = "lightsheet pool (processes)"
    backend = "processes"

    def __init__(self, data: Stack, workers: int) -> None:
        self.data = data
        self.pool = ProcessingPool(workers, backend=self.backend, serial_below_bytes=0)
        self.pool.start()
        self.stop_s: float | None = None

    def run(self, on_item: Callable[[int], None] | None = None) -> None:
        progress = None if on_item is None else (lambda done, total: on_item(done))
        report = self.pool.run_in_place(
            process_plane,
            [self.data.stack, self.data.present],
            {"dark": self.data.dark, "gain": self.data.gain},
            progress=progress,
        )
        self.stop_s = report.stop_s

    def cancel(self) -> None:
        self.pool.cancel()

    def close(self) -> None:
        self.pool.close()


class Threads(Ours):
    name = "lightsheet pool (threads)"
    backend = "threads"


class Dask:
    name = "dask LocalCluster"

    def __init__(self, data: Stack, workers: int) -> None:
        from distributed import Client, LocalCluster

        self.data = data
        self.cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        )
        self.client = Client(self.cluster)
        self._futures: list = []

    def run(self, on_item: Callable[[int], None] | None = None) -> None:
        from distributed import as_completed

        client, stack = self.client, self.data.stack.array
        dark, gain = client.scatter([self.data.dark.array, self.data.gain.array], broadcast=True)
        images = client.scatter([stack[i] for i in range(self.data.images)])
        self._futures = [client.submit(_dask_item, im, dark, gain) for im in images]
        index_of = {future.key: i for i, future in enumerate(self._futures)}
        done = 0
        for future in as_completed(self._futures):
            try:
                stack[index_of[future.key]] = future.result()
            except CancelledError:
                continue
            done += 1
            if on_item:
                on_item(done)
        del images

    def cancel(self) -> None:
        self.client.cancel(self._futures)

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


CONTENDERS = (Serial, SerialOurs, MantidStyle, Ours, Threads, Dask)


def _scale_bands(image: np.ndarray) -> None:
    step = max(1, BLOCK_BYTES // max(1, image[:1].nbytes))
    for top in range(0, image.shape[0], step):
        band = image[top : top + step]
        np.multiply(band, np.float32(1), out=band)


def memory_limit_gbps(data: Stack, workers: int, repeats: int) -> float:
    """The machine's limit for any in-place pass: every byte of the stack read and written once
    (multiplied by 1 in cache-sized bands) on ``workers`` threads; GB/s of stack."""
    stack = data.stack.array
    best = float("inf")
    with ThreadPoolExecutor(workers) as threads:
        for _ in range(repeats):
            started = time.perf_counter()
            list(threads.map(_scale_bands, stack))
            best = min(best, time.perf_counter() - started)
    return stack.nbytes / 1e9 / best


def time_to_stop(contender, fraction: float = 0.3) -> float:
    """Run on a thread, cancel when ``fraction`` of the items are done; seconds from the cancel
    until the call returned (every worker idle)."""
    total = contender.data.images
    asked = threading.Event()
    marks: dict[str, float] = {}

    def on_item(done: int) -> None:
        if done >= fraction * total and not asked.is_set():
            asked.set()

    worker = threading.Thread(target=contender.run, args=(on_item,), daemon=True)
    worker.start()
    asked.wait(600)
    marks["cancel"] = time.perf_counter()
    contender.cancel()
    worker.join(600)
    return time.perf_counter() - marks["cancel"]

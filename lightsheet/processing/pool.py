"""A pool of workers started once, applying a function to every item (image or volume) of
shared arrays in place, with a progress callback per item and a cancel that never corrupts.

``run_in_place(func, arrays, params)`` calls ``func(a[i], b[i], ..., **params)`` for every index
``i`` of axis 0 of ``arrays``, which must be shared arrays (their items are changed in place, or
``func`` writes its result into another of them). ``params`` (scalars, or whole arrays such as
a dark and a flat image) reach each worker once per call, never with every task. Tasks go
through ``imap`` with a chunk size of one, so progress advances per item.

Cancel: a worker checks the cancel flag before each item and never stops inside one, so every
item is either fully processed or untouched, and the report says which. The caller waits for the
items in flight (one per worker, milliseconds for an image); worker processes still inside an
item ``stop_grace_s`` after the cancel are terminated, and the items they were processing are
reported as torn (threads cannot be killed: they always finish their item). Ctrl-C in the
caller cancels the same way, then re-raises KeyboardInterrupt.

Backends: ``threads`` (the default: numpy releases the GIL in these operations, and threads
measured faster than processes, see benchmarks/parallel.py) and ``processes`` (spawned workers on
shared memory, for functions that hold the GIL); inputs smaller than ``serial_below_bytes`` run
in the caller.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any

import numpy as np
import psutil

from lightsheet.processing import pool_worker
from lightsheet.processing.jobs import (
    DONE,
    FAILED,
    PENDING,
    STATUS_DTYPE,
    ProcessingError,
    RunReport,
    make_job,
    resolve,
    run_item,
)
from lightsheet.processing.shared_array import (
    ArrayHandle,
    SharedArray,
    clean_start,
    held_shared_array,
)
from lightsheet.processing.signals import children_ignore_ctrl_c
from lightsheet.runtime.ctrl_c import ctrl_c_held
from lightsheet.runtime.shm import release_block

BACKENDS = ("processes", "threads")
# benchmarks/parallel.py on the 2-core VM: threads 1.81-2.24x, processes 1.41-1.65x over a serial
# loop on the two-array correction (a worker process pays a page fault per page it touches).
DEFAULT_BACKEND = "threads"
SERIAL_BELOW_BYTES = 4 * 2**20
STOP_GRACE_S = 1.0  # the issue: workers stop within a second of a cancel
POLL_S = 0.05
RELEASE_TIMEOUT_S = 10.0
ProgressFn = Callable[[int, int], None]
_log = logging.getLogger(__name__)
_job_ids = itertools.count()


def usable_cores() -> int:
    """How many cores this process may run on (its affinity), not how many the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class ProcessingPool:
    """Workers started once and reused by every `run_in_place` call; close it (or use ``with``)."""

    def __init__(
        self,
        workers: int | None = None,
        backend: str = DEFAULT_BACKEND,
        serial_below_bytes: int = SERIAL_BELOW_BYTES,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers or usable_cores()
        self.backend = backend
        self.serial_below_bytes = serial_below_bytes
        self.stop_grace_s = stop_grace_s
        self._ctx = mp.get_context("spawn")
        self._cancel_flag: Any = None
        self._barrier: Any = None
        self._pool: Any = None
        self._threads: ThreadPoolExecutor | None = None
        self._cancel_requested = threading.Event()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers (once); blocks left by dead processes are removed first."""
        clean_start()
        if self.backend == "threads":
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="processing")
            return
        if self._pool is None:
            self._cancel_flag = self._ctx.Event()
            self._barrier = self._ctx.Barrier(self.workers)
            with children_ignore_ctrl_c():  # also the pool's threads, which replace workers
                self._pool = self._ctx.Pool(
                    self.workers,
                    initializer=pool_worker.initialize,
                    initargs=(self._cancel_flag, self._barrier),
                )
            _log.info("started %d worker process(es)", self.workers)

    def close(self) -> None:
        """Stop the workers. Safe to call twice."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes (empty for threads or before start)."""
        return [] if self._pool is None else [p.pid for p in self._pool._pool]

    def __enter__(self) -> ProcessingPool:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def cancel(self) -> None:
        """Ask the running call to stop (from any thread); it returns a cancelled report."""
        self._cancel_requested.set()

    # -- running ----------------------------------------------------------------------------

    def run_in_place(
        self,
        func: Callable[..., None],
        arrays: list[SharedArray | ArrayHandle],
        params: Mapping[str, Any] | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> RunReport:
        """Apply ``func`` to every item of ``arrays`` in place; see the module's docstring.

        ``func`` must be importable by name (a module-level function) for the process backend.
        ``cancel`` (set from any thread) stops the call as `cancel` does. Raises ProcessingError
        with one line when ``func`` raised or a worker died; KeyboardInterrupt after a clean stop.
        """
        self._cancel_requested.clear()
        external = cancel or threading.Event()
        n_items = (arrays[0].handle if isinstance(arrays[0], SharedArray) else arrays[0]).shape[0]
        with contextlib.ExitStack() as owned:
            status = held_shared_array(owned, (n_items,), STATUS_DTYPE, "status")
            job = make_job(func, arrays, params, status.handle)
            item_bytes = sum(h.nbytes for h in job.arrays)
            serial = n_items < 2 or item_bytes < self.serial_below_bytes
            backend = "serial" if serial else self.backend
            report = RunReport(backend, status.array)
            requested = self._cancel_requested
            run = _Run(report, progress, lambda: external.is_set() or requested.is_set())
            started = time.perf_counter()
            try:
                if serial:
                    self._run_serial(job, n_items, run)
                elif self.backend == "threads":
                    self._run_threads(job, n_items, run)
                else:
                    self._run_processes(job, n_items, run)
            finally:
                report.elapsed_s = time.perf_counter() - started
                report.status = status.array.copy()
            if run.error:
                raise ProcessingError(run.error)
            if run.interrupted:
                raise KeyboardInterrupt
            return report

    def _run_serial(self, job, n_items: int, run: _Run) -> None:
        resolved = resolve(job)
        for index in range(n_items):
            try:
                run.received(*run_item(resolved, index, run.should_stop))
            except KeyboardInterrupt:
                run.interrupt()
        run.stopped()

    def _run_threads(self, job, n_items: int, run: _Run) -> None:
        self.start()
        assert self._threads is not None
        resolved = resolve(job)
        pending = {
            self._threads.submit(run_item, resolved, i, run.should_stop) for i in range(n_items)
        }
        while pending:
            try:
                finished, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                run.interrupt()
                continue
            for future in finished:
                if not future.cancelled():
                    run.received(*future.result())
            if run.poll():
                for future in pending:
                    future.cancel()  # never started: its item stays untouched
        run.stopped()

    def _run_processes(self, job, n_items: int, run: _Run) -> None:
        self.start()
        with contextlib.ExitStack() as owned:
            with ctrl_c_held():  # a job block made but not yet owned would belong to nobody
                block = pool_worker.write_job(job, next(_job_ids))
                owned.callback(release_block, block, unlink=True)
            self._feed_processes(block.name, n_items, run)

    def _feed_processes(self, block_name: str, n_items: int, run: _Run) -> None:
        def tasks():
            # imap feeds tasks from a thread; after a cancel no further task is sent, so only
            # those already queued come back (skipped), and the call returns promptly.
            for index in range(n_items):
                if run.should_stop():
                    return
                yield block_name, index

        try:
            self._cancel_flag.clear()
            results = self._pool.imap(pool_worker.process_task, tasks(), chunksize=1)
            while True:
                try:
                    result = results.next(timeout=POLL_S)
                except StopIteration:
                    break
                except mp.TimeoutError:
                    if run.poll():
                        self._cancel_flag.set()
                    self._check_workers(run)
                    continue
                except KeyboardInterrupt:
                    run.interrupt()
                    self._cancel_flag.set()
                    continue
                if run.received(*result):
                    self._cancel_flag.set()
            run.stopped()
            self._release_workers()
        except _ForcedStop:
            self._terminate()

    def _check_workers(self, run: _Run) -> None:
        """A worker that died inside an item, or one that overran the grace after a cancel,
        ends the call: the pool is terminated (and restarted by the next call)."""
        status = run.report.status.copy()  # workers keep writing the shared one
        for index in np.flatnonzero(status > 0):
            pid = int(status[index])
            if not _alive(pid) and run.report.status[index] == pid:
                run.fail(f"worker process {pid} died while processing item {index}")
                raise _ForcedStop
        overran = (
            run.stop_requested_at is not None
            and _in_flight(status)
            and time.perf_counter() - run.stop_requested_at > self.stop_grace_s
        )
        if overran:
            _log.warning(
                "items still running %.1f s after the stop: terminating the workers",
                self.stop_grace_s,
            )
            raise _ForcedStop

    def _release_workers(self) -> None:
        released = self._pool.map(
            pool_worker.release_task, [RELEASE_TIMEOUT_S] * self.workers, chunksize=1
        )
        _log.debug("workers released %d mapping(s)", sum(released))
        if self._barrier.broken:
            self._barrier.reset()

    def _terminate(self) -> None:
        self._pool.terminate()
        self._pool.join()
        self._pool = None


class _ForcedStop(Exception):
    """The workers had to be terminated."""


class _Run:
    """The caller's side of one call: progress, cancel and the first error."""

    def __init__(self, report: RunReport, progress: ProgressFn | None, cancelled) -> None:
        self.report = report
        self._progress = progress
        self._cancelled = cancelled
        self._stop = False
        self.done = 0
        self.error = ""
        self.interrupted = False
        self.stop_requested_at: float | None = None

    def should_stop(self) -> bool:
        return self._stop

    def poll(self) -> bool:
        """Take a cancel request into account; True once the workers must stop."""
        if not self._stop and self._cancelled():
            self.report.cancelled = True
            self._request_stop()
        return self._stop

    def interrupt(self) -> None:
        self.interrupted = True
        self.report.cancelled = True
        self._request_stop()

    def fail(self, message: str) -> None:
        if not self.error:
            self.error = message
        self._request_stop()

    def received(self, index: int, outcome: int, message: str) -> bool:
        """Count one finished task; True when the workers must stop."""
        if outcome == DONE:
            self.done += 1
            if self._progress is not None:
                self._progress(self.done, self.report.items)
        elif outcome == FAILED:
            self.fail(f"item {index}: {message}")
        self.poll()
        if self._stop and not _in_flight(self.report.status):
            self.stopped()
        return self._stop

    def stopped(self) -> None:
        """No worker is inside an item any more: record how long stopping took."""
        if self.stop_requested_at is not None and self.report.stop_s is None:
            self.report.stop_s = time.perf_counter() - self.stop_requested_at

    def _request_stop(self) -> None:
        if not self._stop:
            self._stop = True
            self.stop_requested_at = time.perf_counter()


def _in_flight(status: np.ndarray) -> bool:
    return bool(np.any(status > 0))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "PENDING", "ProcessingError", "ProcessingPool"]

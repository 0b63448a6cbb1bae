"""The worker-process side of `ProcessingPool`: set up once per process, then one call per item.

A task names only the job's block and the item's index. The job itself (function, handles,
parameters, e.g. the dark and flat images) is read from its shared-memory block the first time a
worker meets it and kept, so it reaches each worker once instead of with every task.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import signal
import struct
import threading
from multiprocessing.connection import wait as wait_ready
from typing import Any

from lightsheet.processing.jobs import Job, ResolvedJob, resolve, run_item
from lightsheet.processing.shared_array import release_attached
from lightsheet.runtime.shm import attach_block, create_block, release_block, removed_on_failure

EXIT_ORPHANED = 70
_LENGTH = struct.Struct("<Q")
_log = logging.getLogger(__name__)
_state: dict[str, Any] = {"cancel": None, "barrier": None, "job_name": None, "job": None}


def write_job(job: Job, ident: int):
    """Put ``job`` on a new block owned by the caller; returns the block (unlink it after)."""
    payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    block = create_block("job", ident, _LENGTH.size + len(payload))
    with removed_on_failure(block):
        buf = block.buf
        assert buf is not None
        buf[: _LENGTH.size] = _LENGTH.pack(len(payload))
        buf[_LENGTH.size : _LENGTH.size + len(payload)] = payload
    return block


def read_job(name: str) -> Job:
    block = attach_block(name)
    try:
        buf = block.buf
        assert buf is not None
        (length,) = _LENGTH.unpack(bytes(buf[: _LENGTH.size]))
        job: Job = pickle.loads(bytes(buf[_LENGTH.size : _LENGTH.size + length]))
        return job
    finally:
        release_block(block, unlink=False)


def initialize(cancel: Any, barrier: Any) -> None:
    """Pool initializer: Ctrl-C belongs to the main process (it cancels cleanly), and a worker
    whose main process died exits instead of waiting for tasks forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _state["cancel"] = cancel
    _state["barrier"] = barrier
    parent = mp.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    wait_ready([sentinel])
    os._exit(EXIT_ORPHANED)


def _job(name: str) -> ResolvedJob:
    if _state["job_name"] != name:
        _state["job"] = None
        _state["job"] = resolve(read_job(name))
        _state["job_name"] = name
    return _state["job"]


def process_task(task: tuple[str, int]) -> tuple[int, int, str]:
    """One item of a job: (index, outcome, error message)."""
    name, index = task
    cancel = _state["cancel"]
    try:
        job = _job(name)
    except Exception as exc:
        return index, -3, f"worker could not set up the job: {type(exc).__name__}: {exc}"
    return run_item(job, index, cancel.is_set)


def release_task(timeout_s: float) -> int:
    """Forget the finished job and unmap its blocks. Each worker waits at the barrier, so each
    takes exactly one of these tasks and every worker lets go of the memory."""
    try:
        _state["barrier"].wait(timeout_s)
    except threading.BrokenBarrierError:
        _log.warning("pool worker %d: release barrier broken", os.getpid())
    _state["job"] = None
    _state["job_name"] = None
    return release_attached()

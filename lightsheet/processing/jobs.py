"""One call of `ProcessingPool.run_in_place`: what every worker needs to process an item, the
per-item record of what was done, and the report the caller gets back.

Every item has a status cell in a shared array: pending, the pid of the worker processing it,
done, skipped (cancelled before it started) or failed. Items are changed in place, so this
record is what makes a cancel safe: an item is either done or untouched, and only a forced stop
(a worker that does not finish its item within the grace period, or dies) can leave an item
started, which the report then names as torn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lightsheet.processing.shared_array import ArrayHandle, SharedArray, attach

PENDING = 0
DONE = -1
SKIPPED = -2
FAILED = -3
STATUS_DTYPE = np.int64  # > 0: the pid of the worker processing the item


class ProcessingError(RuntimeError):
    """A worker failed or died; the message is one line naming the item and the cause."""


@dataclass(frozen=True)
class Job:
    """What a worker receives once per call: the function, handles and parameters."""

    func: Callable[..., None]
    arrays: tuple[ArrayHandle, ...]
    params: Mapping[str, Any]
    status: ArrayHandle


@dataclass
class ResolvedJob:
    """A job with its arrays attached in this process."""

    func: Callable[..., None]
    arrays: list[np.ndarray]
    params: dict[str, Any]
    status: np.ndarray


def as_handle(value: Any) -> Any:
    """Shared arrays travel as handles; everything else as it is."""
    return value.handle if isinstance(value, SharedArray) else value


def make_job(
    func: Callable[..., None],
    arrays: list[SharedArray | ArrayHandle],
    params: Mapping[str, Any] | None,
    status: ArrayHandle,
) -> Job:
    handles = tuple(as_handle(a) for a in arrays)
    if not handles:
        raise ValueError("run_in_place needs at least one array to iterate over")
    for handle in handles:
        if not isinstance(handle, ArrayHandle):
            raise TypeError(f"arrays must be shared arrays, got {type(handle).__name__}")
        if not handle.shape or handle.shape[0] != handles[0].shape[0]:
            raise ValueError(
                f"every array must have {handles[0].shape[0]} items on axis 0, got {handle.shape}"
            )
    resolved_params = {key: as_handle(value) for key, value in (params or {}).items()}
    return Job(func, handles, resolved_params, status)


def resolve(job: Job) -> ResolvedJob:
    """Attach the job's arrays (each block once per process, cached)."""
    params = {
        key: attach(value) if isinstance(value, ArrayHandle) else value
        for key, value in job.params.items()
    }
    arrays = [attach(h) for h in job.arrays]
    return ResolvedJob(job.func, arrays, params, attach(job.status))


def run_item(job: ResolvedJob, index: int, cancelled: Callable[[], bool]) -> tuple[int, int, str]:
    """Process item ``index`` unless cancelled; (index, outcome, error message)."""
    status = job.status
    if cancelled():
        status[index] = SKIPPED
        return index, SKIPPED, ""
    status[index] = os.getpid()
    try:
        job.func(*(array[index] for array in job.arrays), **job.params)
    except Exception as exc:
        status[index] = FAILED
        return index, FAILED, f"{type(exc).__name__}: {exc}"
    status[index] = DONE
    return index, DONE, ""


@dataclass
class RunReport:
    """What a call did, item by item."""

    backend: str
    status: np.ndarray = field(repr=False)
    cancelled: bool = False
    elapsed_s: float = 0.0
    stop_s: float | None = None  # from the cancel request until no worker was processing

    @property
    def items(self) -> int:
        return int(self.status.size)

    @property
    def done(self) -> np.ndarray:
        """True for each item that was fully processed."""
        return self.status == DONE

    @property
    def torn(self) -> np.ndarray:
        """True for each item a forced stop or a failure cut off midway (partly changed)."""
        return (self.status > 0) | (self.status == FAILED)

    @property
    def items_done(self) -> int:
        return int(np.count_nonzero(self.done))

    def describe(self) -> str:
        text = f"{self.items_done} of {self.items} item(s) processed"
        torn = int(np.count_nonzero(self.torn))
        if torn:
            text += f", {torn} cut off midway"
        return text + (" (cancelled)" if self.cancelled else "")

"""The run in shared memory, processed in place by the worker pool, then written.

Phases: read (the stack as float32 into one shared array, volume by volume), correct and bin
(one item per plane, in place; binned planes go to a second shared array), project (one item per
volume) and write (volume by volume). Each phase stops at a cancel: the pool's items are done or
untouched, so what the output's metadata records as processed is exact; the source run is only
ever opened read-only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from lightsheet.postprocess.options import ProgressFn, Step
from lightsheet.postprocess.output import OutputRun
from lightsheet.postprocess.plan import Plan
from lightsheet.postprocess.source import read_volume_into
from lightsheet.processing.corrections import FLOAT, max_project, process_plane
from lightsheet.processing.jobs import ProcessingError
from lightsheet.processing.pool import ProcessingPool
from lightsheet.processing.shared_array import held_shared_array
from lightsheet.storage import open_run

_log = logging.getLogger(__name__)


@dataclass
class EngineResult:
    cancelled: bool
    detail: dict


def run_shared(
    plan: Plan,
    output: OutputRun,
    pool: ProcessingPool,
    progress: ProgressFn,
    cancel: threading.Event,
) -> EngineResult:
    """Process the whole run on ``pool``; returns whether it was cancelled and what was done."""
    t, z, y, x = plan.source.shape
    h, w = plan.out_frame_shape
    with contextlib.ExitStack() as owned:

        def shared(shape, dtype, purpose):
            return held_shared_array(owned, shape, dtype, purpose)

        stack = shared((t, z, y, x), FLOAT, "stack")
        present = shared((t * z,), bool, "present")
        present.array[:] = plan.source.present.reshape(-1)
        binned = shared((t * z, h, w), FLOAT, "binned") if plan.factor > 1 else None
        params: dict[str, Any] = {"factor": plan.factor}
        for name, image in (("dark", plan.dark), ("gain", plan.gain)):
            if image is not None:
                params[name] = shared(image.shape, FLOAT, name)
                params[name].array[:] = image

        if not _read(plan, stack.array, progress, cancel):
            return EngineResult(True, {"phase": "reading", "planes_processed": 0})
        arrays = [stack.handle.reshaped(t * z, y, x), present]
        if binned is not None:
            arrays.append(binned)
        report = pool.run_in_place(
            process_plane, arrays, params, _phase(progress, "correcting", "plane"), cancel
        )
        done = {"planes_processed": report.items_done, "planes_total": report.items}
        if report.cancelled:
            return EngineResult(True, {"phase": "correcting", **done})

        result = (binned.handle if binned is not None else stack.handle).reshaped(t, z, h, w)
        projections = None
        if plan.options.max_projection:
            projections = shared((t, h, w), FLOAT, "projection")
            report = pool.run_in_place(
                max_project,
                [result, projections],
                None,
                _phase(progress, "projecting", "volume"),
                cancel,
            )
            if report.cancelled:
                return EngineResult(True, {"phase": "projecting", **done})
        result_array = binned if binned is not None else stack
        if not _write(plan, output, result_array, projections, progress, cancel):
            return EngineResult(True, {"phase": "writing", **done})
        return EngineResult(False, done)


def _write(plan: Plan, output: OutputRun, result, projections, progress, cancel) -> bool:
    """The processed volumes (and projections) into the new run; False if cancelled first."""
    t = plan.volumes
    volumes = result.array.reshape(t, *plan.out_volume_shape)
    for index in range(t):
        if cancel.is_set():
            return False
        projection = None if projections is None else projections.array[index]
        output.write_volume(index, volumes[index], projection)
        progress(Step("writing", index + 1, t, "volume"))
    return True


def _read(plan: Plan, stack: np.ndarray, progress: ProgressFn, cancel: threading.Event) -> bool:
    """The source volumes into the float32 stack; False if cancelled first."""
    data = open_run(plan.source.path)
    try:
        for index in range(plan.volumes):
            if cancel.is_set():
                return False
            try:
                read_volume_into(plan.source, data, index, stack[index])
            except (OSError, KeyError) as exc:
                raise ProcessingError(
                    f"{plan.source.path}: volume {index} unreadable ({exc})"
                ) from exc
            progress(Step("reading", index + 1, plan.volumes, "volume"))
    finally:
        data.file.close()
    return True


def _phase(progress: ProgressFn, phase: str, unit: str):
    return lambda done, total: progress(Step(phase, done, total, unit))

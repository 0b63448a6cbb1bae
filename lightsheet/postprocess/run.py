"""A processing job from start to files closed: the engine is opened first (workers started,
scheduler reached), then the new run is written, and its metadata always says how it ended.

Outcomes: completed; interrupted (cancelled: what was written is whole, the metadata says how
far it got); fault (a worker raised or died, the disk filled: data until then kept, the cause in
the metadata). Bad input raises ProcessingInputError before anything is written.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightsheet.postprocess.options import (
    ProcessingInputError,
    ProcessOptions,
    ProgressFn,
    Step,
)
from lightsheet.postprocess.output import OutputRun
from lightsheet.postprocess.plan import Plan, make_plan
from lightsheet.processing.jobs import ProcessingError
from lightsheet.processing.pool import ProcessingPool, usable_cores
from lightsheet.processing.shared_array import NotEnoughMemory

_log = logging.getLogger("lightsheet.process")


@dataclass(frozen=True)
class Outcome:
    status: str  # "completed", "interrupted" or "fault"
    stop_reason: str
    out_dir: Path
    engine: str
    volumes_saved: int
    volumes_total: int
    duration_s: float
    metadata: dict[str, Any]


class Engine:
    """An opened engine: the worker pool, or a dask client."""

    def __init__(self, name: str, pool: ProcessingPool | None = None, client: Any = None) -> None:
        self.name = name
        self.pool = pool
        self.client = client

    def run(self, plan: Plan, output: OutputRun, progress: ProgressFn, cancel: threading.Event):
        if self.client is not None:
            from lightsheet.postprocess.dask_engine import run_dask

            return run_dask(plan, output, self.client, progress, cancel)
        from lightsheet.postprocess.shared_engine import run_shared

        assert self.pool is not None
        return run_shared(plan, output, self.pool, progress, cancel)


@contextlib.contextmanager
def open_engine(plan: Plan, pool: ProcessingPool | None = None) -> Iterator[Engine]:
    """Start what ``plan.engine`` needs; a given ``pool`` is used (and left open) for the
    shared-memory engines. ProcessingInputError when a scheduler cannot be reached."""
    workers = plan.options.workers or usable_cores()
    if plan.engine == "dask":
        from lightsheet.postprocess.dask_engine import dask_client

        with dask_client(plan.options.scheduler, workers) as (client, name):
            yield Engine(name, client=client)
        return
    if pool is not None:
        yield Engine(pool.backend, pool=pool)
        return
    with ProcessingPool(workers, backend=plan.engine) as own:
        yield Engine(f"{plan.engine} ({own.workers} workers)", pool=own)


def execute(
    plan: Plan,
    engine: Engine,
    out_dir: Path,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Process ``plan`` into the prepared (empty) folder ``out_dir``."""
    progress = progress or _no_progress
    cancel = cancel or threading.Event()
    started = time.monotonic()
    output = OutputRun(plan, out_dir, engine.name)
    status, stop_reason, detail = "fault", "fault: unknown", {}
    try:
        result = engine.run(plan, output, progress, cancel)
        detail = result.detail
        status = "interrupted" if result.cancelled else "completed"
        stop_reason = status
    except KeyboardInterrupt:
        status, stop_reason = "interrupted", "interrupted"
    except (ProcessingError, NotEnoughMemory) as exc:
        stop_reason = f"fault: {exc}"
    except OSError as exc:
        stop_reason = f"fault: {out_dir}: {exc.strerror or exc}"
    except Exception as exc:
        _log.exception("processing failed")
        stop_reason = f"fault: {type(exc).__name__}: {exc}"
    if status != "completed":
        _log.warning("%s: %s (%s)", out_dir, stop_reason, detail)
    try:
        metadata = output.finish(stop_reason, detail)
    except OSError as exc:  # e.g. the disk filled while closing the last chunk
        status, stop_reason = "fault", f"fault: {out_dir}: {exc.strerror or exc}"
        metadata = dict(output.metadata, stop_reason=stop_reason)
    return Outcome(
        status,
        stop_reason,
        Path(out_dir),
        engine.name,
        int(metadata.get("volumes_saved", 0)),
        plan.volumes,
        time.monotonic() - started,
        metadata,
    )


def process_run(
    options: ProcessOptions,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    pool: ProcessingPool | None = None,
) -> Outcome:
    """Plan, open the engine and process into ``options.out_dir`` (created if needed; it must
    hold no run). For callers that prepare the folder themselves: make_plan, open_engine,
    execute."""
    plan = make_plan(options)
    out_dir = Path(options.out_dir).expanduser()
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ProcessingInputError(f"{out_dir}: folder is not empty; choose another output")
    with open_engine(plan, pool) as engine:
        out_dir.mkdir(parents=True, exist_ok=True)
        return execute(plan, engine, out_dir, progress, cancel)


def _no_progress(step: Step) -> None:
    return None

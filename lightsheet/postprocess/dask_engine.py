"""The run as dask arrays over its chunk files, processed on a dask.distributed cluster and
written volume by volume, for runs larger than memory or than one machine.

Workers read the chunk files themselves (by absolute path: a lab's workers share the disk), run
the same functions as the worker pool (`process_block`, `max_project`) on the same float32
planes, so the result is bit for bit the one of the shared-memory path. The dark and gain images
are single-chunk dask arrays: each is sent to a worker once, not with every task. At most a few
volumes per worker are in flight, so the client holds only those, whatever the run's size.

Without ``--scheduler`` a LocalCluster is started on 127.0.0.1 with no dashboard.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import dask.array as da
import h5py
import numpy as np
from distributed import Client, LocalCluster, wait

from lightsheet.postprocess.options import ProcessingInputError, ProgressFn, Step
from lightsheet.postprocess.output import OutputRun
from lightsheet.postprocess.plan import Plan
from lightsheet.postprocess.shared_engine import EngineResult
from lightsheet.processing.corrections import FLOAT, max_project, process_block
from lightsheet.processing.jobs import ProcessingError
from lightsheet.processing.signals import children_ignore_ctrl_c
from lightsheet.storage.virtual import DATA

LOCAL_HOST = "127.0.0.1"
IN_FLIGHT_PER_WORKER = 2
CONNECT_TIMEOUT_S = 10
POLL_S = 0.1
_log = logging.getLogger(__name__)


class ChunkFileData:
    """One chunk file's /data, read lazily where the task runs (picklable: path and shape)."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.ndim = len(shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        with h5py.File(self.path, "r") as chunk:
            return chunk[DATA][key]


def _process(block, present, dark, gain, factor: int) -> np.ndarray:
    return process_block(block, present, dark=dark, gain=gain, factor=factor)


def _project(block: np.ndarray) -> np.ndarray:
    out = np.empty((block.shape[0], *block.shape[2:]), FLOAT)
    for volume, projection in zip(block, out, strict=True):
        max_project(volume, projection)
    return out


def build_arrays(plan: Plan) -> tuple[da.Array, da.Array | None]:
    """(processed (t, z, h, w), projections (t, h, w) or None), one chunk per volume."""
    source = plan.source
    t, z, y, x = source.shape
    h, w = plan.out_frame_shape
    parts = [
        da.from_array(
            ChunkFileData(str(c.path), (c.volumes, z, y, x), source.dtype),
            chunks=(1, z, y, x),
            name=False,
            lock=False,
            fancy=False,
            meta=np.empty((0, 0, 0, 0), source.dtype),
        )
        for c in source.chunk_files
    ]
    raw = da.concatenate(parts, axis=0)[:t]
    present = da.from_array(source.present, chunks=(1, z))[:, :, None, None]
    images = [
        None if image is None else da.from_array(image, chunks=image.shape)
        for image in (plan.dark, plan.gain)
    ]
    processed = da.map_blocks(
        _process,
        raw,
        present,
        *images,
        plan.factor,
        dtype=FLOAT,
        chunks=(1, z, h, w),
        meta=np.empty((0, 0, 0, 0), FLOAT),
    )
    if not plan.options.max_projection:
        return processed, None
    projections = processed.map_blocks(
        _project, drop_axis=1, dtype=FLOAT, chunks=(1, h, w), meta=np.empty((0, 0, 0), FLOAT)
    )
    return processed, projections


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[tuple[Client, str]]:
    """A client of the given scheduler, or of a LocalCluster on 127.0.0.1; (client, name)."""
    cluster: LocalCluster | None = None
    client: Client | None = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ProcessingInputError(
                f"--scheduler {scheduler}: cannot connect to a dask scheduler ({exc})"
            ) from None
        with client:
            yield client, f"dask ({scheduler})"
        return
    try:
        with children_ignore_ctrl_c():  # Ctrl-C is the main process's: it cancels cleanly
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host=LOCAL_HOST,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        yield client, f"dask (LocalCluster, {workers} workers)"
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def run_dask(
    plan: Plan,
    output: OutputRun,
    client: Client,
    progress: ProgressFn,
    cancel: threading.Event,
) -> EngineResult:
    """Compute and write volume by volume, a few volumes per worker ahead."""
    processed, projections = build_arrays(plan)
    volumes = processed.to_delayed().reshape(-1)
    shadows = None if projections is None else projections.to_delayed().reshape(-1)
    window = IN_FLIGHT_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    in_flight: dict[int, list] = {}
    submitted = 0
    total = plan.volumes
    try:
        for index in range(total):
            while submitted < min(total, index + window):
                wanted = [volumes[submitted]] + ([] if shadows is None else [shadows[submitted]])
                in_flight[submitted] = client.compute(wanted)
                submitted += 1
            results = _result(client, in_flight.pop(index), index, cancel)
            if results is None:
                return EngineResult(True, {"phase": "processing", "volumes_processed": index})
            output.write_volume(index, results[0][0], None if shadows is None else results[1][0])
            progress(Step("processing", index + 1, total, "volume"))
    finally:
        for futures in in_flight.values():
            client.cancel(futures)
    return EngineResult(False, {"volumes_processed": total})


def _result(client: Client, futures: list, index: int, cancel: threading.Event):
    """The volume's arrays, or None when cancelled first; ProcessingError when a task failed."""
    while not cancel.is_set():
        try:
            wait(futures, timeout=POLL_S)
        except TimeoutError:
            continue
        try:
            return client.gather(futures)
        except Exception as exc:
            if cancel.is_set():
                return None
            raise ProcessingError(f"volume {index}: {type(exc).__name__}: {exc}") from exc
    client.cancel(futures)
    return None

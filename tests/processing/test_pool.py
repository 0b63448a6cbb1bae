"""The worker pool: in place equals numpy, parameters reach each worker once, a failing or dying
worker is one clear error with no shared memory left, a cancel leaves every item done or
untouched."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from lightsheet.processing.corrections import correction_gain, max_project, process_plane
from lightsheet.processing.jobs import DONE, PENDING, SKIPPED, ProcessingError
from lightsheet.processing.pool import ProcessingPool
from lightsheet.processing.shared_array import attach, create_shared_array
from tests.processing import workfuncs
from tests.processing.runs import reference
from tests.waiting import wait_until

SHAPE = (3, 4, 40, 36)


def _inputs(seed: int = 1):
    rng = np.random.default_rng(seed)
    raw = rng.integers(500, 3000, SHAPE).astype(np.float32)
    dark = rng.integers(50, 150, SHAPE[2:]).astype(np.float32)
    flat = rng.uniform(800, 1200, SHAPE[2:]).astype(np.float32)
    flat[0, 0] = dark[0, 0]  # a dead pixel: corrected to 0, not inf
    present = np.ones(SHAPE[:2], bool)
    present[1, 3] = False
    return raw, dark, flat, present


def _correct(pool: ProcessingPool, factor: int):
    raw, dark, flat, present = _inputs()
    t, z, y, x = SHAPE
    h, w = y // factor, x // factor
    with (
        create_shared_array(SHAPE, np.float32, "stack") as stack,
        create_shared_array((t * z,), bool, "present") as flags,
        create_shared_array((t * z, h, w), np.float32, "binned") as binned,
        create_shared_array(dark.shape, np.float32, "dark") as dark_s,
        create_shared_array(dark.shape, np.float32, "gain") as gain_s,
    ):
        stack.array[:] = raw
        flags.array[:] = present.reshape(-1)
        dark_s.array[:] = dark
        gain_s.array[:] = correction_gain(dark, flat)
        arrays = [stack.handle.reshaped(t * z, y, x), flags] + ([binned] if factor > 1 else [])
        seen = []
        report = pool.run_in_place(
            process_plane,
            arrays,
            {"dark": dark_s, "gain": gain_s, "factor": factor},
            progress=lambda done, total: seen.append((done, total)),
        )
        result = binned.array.reshape(t, z, h, w).copy() if factor > 1 else stack.array.copy()
    expected = reference(raw, present, dark, flat, factor)
    return report, seen, result, expected


@pytest.mark.parametrize("backend", ["processes", "threads"])
@pytest.mark.parametrize("factor", [1, 3])
def test_in_place_correction_equals_the_numpy_reference(pool, backend, factor):
    pool.backend = backend
    try:
        report, seen, result, expected = _correct(pool, factor)
    finally:
        pool.backend = "processes"
    assert report.backend == backend and report.items_done == report.items == 12
    assert seen == [(i, 12) for i in range(1, 13)]  # one progress step per item
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-3)
    assert np.all(result[1, 3] == 0)  # a missing plane stays a gap


def test_tiny_inputs_run_serially_with_the_same_result():
    small = ProcessingPool(workers=2)  # default threshold: these 150 kB are tiny
    try:
        report, _, result, expected = _correct(small, 1)
        assert small.worker_pids() == []  # no worker was even started
    finally:
        small.close()
    assert report.backend == "serial"
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-3)


def test_max_projection_into_an_output_array(pool):
    volumes = np.random.default_rng(2).normal(size=(5, 7, 30, 20)).astype(np.float32)
    with (
        create_shared_array(volumes.shape, np.float32, "stack") as stack,
        create_shared_array((5, 30, 20), np.float32, "projection") as out,
    ):
        stack.array[:] = volumes
        pool.run_in_place(max_project, [stack, out])
        np.testing.assert_array_equal(out.array, volumes.max(axis=1))


def test_parameters_and_second_arrays_reach_each_worker_once(pool):
    dark = np.arange(512 * 512, dtype=np.float32).reshape(512, 512)
    with (
        create_shared_array((40, 3), np.float64, "rows") as rows,
        create_shared_array(dark.shape, np.float32, "dark") as dark_s,
    ):
        dark_s.array[:] = dark
        pool.run_in_place(workfuncs.record_mapping, [rows], {"dark": dark_s})
        pids, addresses, sums = rows.array.T
        # Every item saw the whole dark image, through one mapping per worker process.
        assert np.all(sums == dark.sum(dtype=np.float32))
        for pid in np.unique(pids):
            assert len(np.unique(addresses[pids == pid])) == 1
        # What travels with each task is a block name and an index, not the image.
        task = (rows.name, 39)
        assert len(pickle.dumps(task)) < 200 < dark.nbytes


def test_workers_let_go_of_the_blocks_after_each_call(pool):
    with create_shared_array((2, 1), np.int64, "rows") as rows:
        pool.run_in_place(workfuncs.mapped_blocks, [rows])
        # During the call a worker maps the job's blocks (rows, status)...
        assert rows.array.max() >= 2
    with create_shared_array((8, 1), np.int64, "rows") as probe:
        pool.run_in_place(workfuncs.mapped_blocks, [probe])
        # ...and at the next call it maps only that call's, not the earlier ones.
        assert probe.array.max() <= 2


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_a_raising_item_is_one_clear_error_and_leaves_no_shared_memory(pool, backend):
    pool.backend = backend
    try:
        with (
            create_shared_array((20, 8), np.float32, "stack") as stack,
            create_shared_array((20,), np.int64, "index") as index,
        ):
            index.array[:] = np.arange(20)
            with pytest.raises(ProcessingError) as caught:
                pool.run_in_place(workfuncs.fail_at, [stack, index], {"bad": 7})
    finally:
        pool.backend = "processes"
    assert str(caught.value) == "item 7: ValueError: bad value in item 7"
    assert "\n" not in str(caught.value)


def test_a_worker_that_dies_fails_the_call_and_the_pool_recovers(pool):
    with (
        create_shared_array((10, 8), np.float32, "stack") as stack,
        create_shared_array((10,), np.int64, "index") as index,
    ):
        index.array[:] = np.arange(10)
        died = r"worker process \d+ died while processing item 4"
        with pytest.raises(ProcessingError, match=died):
            pool.run_in_place(workfuncs.die_at, [stack, index], {"bad": 4})
        stack.array[:] = 0
        report = pool.run_in_place(workfuncs.fail_at, [stack, index], {"bad": -1})
        assert report.items_done == 10 and np.all(stack.array == 1)


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_cancel_leaves_every_item_either_done_or_untouched(pool, backend):
    items = 60
    original = np.random.default_rng(3).normal(size=(items, 64)).astype(np.float32)
    pool.backend = backend
    try:
        with create_shared_array(original.shape, np.float32, "stack") as stack:
            stack.array[:] = original

            def progress(done: int, total: int) -> None:
                if done == 5:
                    pool.cancel()

            report = pool.run_in_place(
                workfuncs.slow_double, [stack], {"delay_s": 0.02}, progress=progress
            )
            result = stack.array.copy()
    finally:
        pool.backend = "processes"
    assert report.cancelled and 5 <= report.items_done < items
    assert not report.torn.any()
    assert set(np.unique(report.status)) <= {DONE, SKIPPED, PENDING}
    np.testing.assert_array_equal(result[report.done], original[report.done] * 2)
    np.testing.assert_array_equal(result[~report.done], original[~report.done])
    assert report.stop_s is not None
    assert report.describe().endswith("(cancelled)")


def test_the_pool_is_reused_after_a_cancel(pool):
    pids = pool.worker_pids()
    with create_shared_array((6, 4), np.float32, "stack") as stack:
        stack.array[:] = 1
        report = pool.run_in_place(workfuncs.slow_double, [stack], {"delay_s": 0.0})
        assert report.items_done == 6 and np.all(stack.array == 2)
    assert pool.worker_pids() == pids != []


def test_attach_in_the_owner_gives_the_owned_array():
    with create_shared_array((3, 4), np.int32, "stack") as stack:
        view = attach(stack.handle.reshaped(12))
        view[5] = 42
        assert stack.array[1, 1] == 42
        del view


_ORPHANING = """
import sys
from lightsheet.processing.pool import ProcessingPool
pool = ProcessingPool(2, backend="processes")
pool.start()
pool._pool.map(abs, range(4))  # the workers are up
print(*pool.worker_pids(), flush=True)
sys.stdin.read()
"""


def test_workers_exit_when_the_main_process_is_killed():
    root = Path(__file__).resolve().parents[2]
    main = subprocess.Popen(
        [sys.executable, "-c", _ORPHANING],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        pids = [int(pid) for pid in main.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        main.send_signal(signal.SIGKILL)
        main.wait(10)

    def gone() -> bool:
        return not any(psutil.pid_exists(pid) and _running(pid) for pid in pids)

    wait_until(gone, 10, "the orphaned workers to exit")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

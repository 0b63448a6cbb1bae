"""The dask.distributed engine gives exactly the worker pool's result, on a LocalCluster and on a
scheduler and a worker started as separate processes (as a lab runs them on several machines);
it stops on a cancel with whole volumes written, and a task that fails is one clear fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from distributed import Client

from lightsheet.postprocess import (
    ProcessingInputError,
    ProcessOptions,
    Step,
    dask_engine,
    process_run,
)
from lightsheet.postprocess.plan import make_plan
from lightsheet.postprocess.run import execute, open_engine
from lightsheet.storage import read_metadata
from tests.processing.runs import SHAPE, write_run
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dask")
    run_dir = folder / "raw"
    write_run(run_dir)
    dark = np.random.default_rng(4).uniform(50, 150, SHAPE[2:]).astype(np.float32)
    np.save(folder / "dark.npy", dark)
    flat = np.random.default_rng(5).uniform(700, 1300, SHAPE[2:]).astype(np.float32)
    np.save(folder / "flat.npy", flat)
    return run_dir


def _options(source: Path, out: Path, **extra) -> ProcessOptions:
    return ProcessOptions(
        source,
        out,
        dark=source.parent / "dark.npy",
        flat=source.parent / "flat.npy",
        max_projection=True,
        bin_factor=2,
        **extra,
    )


@pytest.fixture(scope="module")
def pool_result(source, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("pool") / "out"
    outcome = process_run(_options(source, out, engine="threads", workers=2))
    assert outcome.status == "completed"
    return _contents(out)


def _contents(out: Path) -> dict[str, bytes]:
    with h5py.File(out / "dataset.h5", "r") as f:
        return {name: f[name][...].tobytes() for name in ("data", "max_projection", "frames")}


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A `dask scheduler` and a `dask worker`, each its own process, on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("scheduler")
    info = folder / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--host", "127.0.0.1", "--no-dashboard"]
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--port",
                "0",
                "--scheduler-file",
                str(info),
                *common,
            ],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        wait_until(info.exists, 30, "the scheduler to write its address")
        address = wait_until(lambda: json.loads(info.read_text() or "{}").get("address"), 10)
        started.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dask",
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    *common,
                ],
                env=env,
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=30)
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(30)


def test_a_local_cluster_gives_the_pool_result_bit_for_bit(source, pool_result, tmp_path):
    steps: list[Step] = []
    outcome = process_run(
        _options(source, tmp_path / "out", engine="dask", workers=2), progress=steps.append
    )
    assert outcome.status == "completed" and outcome.engine.startswith("dask (LocalCluster")
    assert _contents(tmp_path / "out") == pool_result
    assert steps[-1] == Step("processing", 4, 4, "volume")
    assert read_metadata(tmp_path / "out")["engine"] == outcome.engine


def test_a_separate_scheduler_and_worker_give_the_same(source, pool_result, tmp_path, scheduler):
    outcome = process_run(_options(source, tmp_path / "out", scheduler=scheduler))
    assert outcome.status == "completed" and outcome.engine == f"dask ({scheduler})"
    assert _contents(tmp_path / "out") == pool_result


def test_a_cancel_keeps_the_volumes_written(source, pool_result, tmp_path, scheduler):
    cancel = threading.Event()

    def progress(step: Step) -> None:
        if step.done == 2:
            cancel.set()

    outcome = process_run(
        _options(source, tmp_path / "out", scheduler=scheduler), progress=progress, cancel=cancel
    )
    assert (outcome.status, outcome.volumes_saved) == ("interrupted", 2)
    with h5py.File(tmp_path / "out" / "dataset.h5", "r") as f:
        data = f["data"][...]
    assert data.tobytes() == pool_result["data"][: data.nbytes]
    assert read_metadata(tmp_path / "out")["processing"]["volumes_processed"] == 2


def test_a_failing_task_is_one_line_fault(tmp_path, scheduler):
    run_dir = tmp_path / "raw"
    write_run(run_dir, per_chunk=1)
    plan = make_plan(ProcessOptions(run_dir, tmp_path / "out", bin_factor=2, scheduler=scheduler))
    (run_dir / "chunks" / "chunk-000003.h5").unlink()  # gone before the worker reads it
    with open_engine(plan) as engine:
        (tmp_path / "out").mkdir()
        outcome = execute(plan, engine, tmp_path / "out")
    assert outcome.status == "fault" and outcome.volumes_saved == 3
    assert outcome.stop_reason.startswith("fault: volume 3: ")
    assert "chunk-000003.h5" in outcome.stop_reason and "\n" not in outcome.stop_reason


def test_an_unreachable_scheduler_is_bad_input(source, tmp_path, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(ProcessingInputError, match="cannot connect to a dask scheduler"):
        process_run(_options(source, tmp_path / "out", scheduler="tcp://127.0.0.1:9"))
    assert not (tmp_path / "out").exists()

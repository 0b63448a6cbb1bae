"""`lightsheet process` as an operator runs it: a new run that `inspect` reads, bad input as one
line with exit 2, Ctrl-C as a clean stop with exit 130 and the source untouched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lightsheet.runtime.shm import list_blocks, owner_pid
from lightsheet.storage import read_metadata
from tests.cli.cli_helpers import assert_one_line_error, lightsheet
from tests.processing.runs import SHAPE, write_run


@pytest.fixture
def raw(tmp_path) -> Path:
    write_run(tmp_path / "raw")
    np.save(tmp_path / "dark.npy", np.full(SHAPE[2:], 100, np.uint16))
    return tmp_path / "raw"


def test_process_writes_a_run_that_inspect_reads(raw, tmp_path):
    out = tmp_path / "out"
    result = lightsheet(
        "process",
        str(raw),
        "--out",
        str(out),
        "--dark",
        str(tmp_path / "dark.npy"),
        "--max-projection",
        "--bin",
        "2",
        "--workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "volumes saved: 4 of 4" in result.stdout and "stop reason:   completed" in result.stdout
    assert "correcting" in result.stderr and "plane/s" in result.stderr  # the progress bar
    inspected = lightsheet("inspect", str(out))
    assert inspected.returncode == 0
    assert "(t, z, y, x) = (4, 5, 24, 21) float32" in inspected.stdout
    assert "warning" not in inspected.stdout
    assert (out / "logs" / "process.log").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dark", "{tmp}/raw/metadata.json"], "expected a .npy or TIFF image, or a run folder"),
        (["--bin", "0"], "argument --bin: must be at least 1"),
        (["--engine", "threads", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler runs on dask"),
        ([], "nothing to do"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(raw, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = lightsheet("process", str(raw), "--out", str(tmp_path / "out"), *args)
    assert message in assert_one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_an_occupied_output_folder_is_refused(raw, tmp_path):
    result = lightsheet("process", str(raw), "--out", str(raw.parent), "--bin", "2")
    assert "folder is not empty" in assert_one_line_error(result)
    result = lightsheet("process", "/nonexistent/run", "--out", str(tmp_path / "o"), "--bin", "2")
    assert "not a lightsheet run" in assert_one_line_error(result)


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path, engine):
    # Large enough (100 MB) that the interrupt lands while the job is running.
    raw = tmp_path / "big"
    write_run(raw, shape=(12, 16, 512, 512), per_chunk=4)
    before = hashlib.sha256((raw / "chunks" / "chunk-000000.h5").read_bytes()).hexdigest()
    out = tmp_path / "out"
    # As in a terminal: Ctrl-C goes to the whole process group, workers included.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lightsheet",
            "process",
            str(raw),
            "--out",
            str(out),
            "--bin",
            "2",
            "--engine",
            engine,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = process.stderr.read(1)  # the first progress bar is drawn: the job is running
        assert first, "no progress output"
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == 130, stderr
    assert "cancelling" in stderr and "Traceback" not in stderr  # no worker complained either
    meta = read_metadata(out)
    assert meta["stop_reason"] == "interrupted" and meta["volumes_saved"] < 12
    assert "stop reason:   interrupted" in stdout
    assert hashlib.sha256((raw / "chunks" / "chunk-000000.h5").read_bytes()).hexdigest() == before
    assert [n for n in list_blocks() if owner_pid(n) == process.pid] == []

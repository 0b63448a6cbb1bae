"""Processing a saved run into a new run on the worker pool: the data equals the numpy
reference, the new run is a run (inspect, frames, attributes, metadata), a cancel leaves the
source untouched and the output saying what was done, a failing worker is a fault with no
shared memory left, and bad input is refused before anything is written."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.postprocess import (
    ProcessingInputError,
    ProcessOptions,
    Step,
    process_run,
    shared_engine,
)
from lightsheet.storage import iter_frames_table, read_metadata, summarize_run
from tests.processing import workfuncs
from tests.processing.runs import SHAPE, present_mask, reference, write_run


@pytest.fixture
def source(tmp_path) -> tuple[Path, np.ndarray]:
    run_dir = tmp_path / "raw"
    return run_dir, write_run(run_dir)


def _fingerprint(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


def _read(run_dir: Path, name: str = "data") -> np.ndarray:
    with h5py.File(run_dir / "dataset.h5", "r") as f:
        return f[name][...]


def test_the_new_run_holds_the_corrected_binned_data_and_projections(tmp_path, source, pool):
    run_dir, raw = source
    dark = np.random.default_rng(5).uniform(80, 120, SHAPE[2:]).astype(np.float32)
    np.save(tmp_path / "dark.npy", dark)
    flat_run = tmp_path / "flat"
    flat_raw = write_run(flat_run, shape=(2, 3, *SHAPE[2:]), missing=((0, 1),), seed=9)
    out = tmp_path / "out"
    steps: list[Step] = []
    outcome = process_run(
        ProcessOptions(
            run_dir,
            out,
            dark=tmp_path / "dark.npy",
            flat=flat_run,
            max_projection=True,
            bin_factor=4,
        ),
        progress=steps.append,
        pool=pool,
    )
    assert (outcome.status, outcome.volumes_saved) == ("completed", 4)
    present_flat = np.ones(flat_raw.shape[:2], bool)
    present_flat[0, 1] = False
    flat = flat_raw[present_flat].astype(np.float64).mean(axis=0)  # missing frame not averaged
    expected = reference(raw, present_mask(), dark, flat, factor=4)
    data = _read(out)
    assert data.shape == (4, 5, 12, 10) and data.dtype == np.float32
    np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-2)
    np.testing.assert_array_equal(_read(out, "max_projection"), data.max(axis=1))
    # The per-frame table follows the data: the gap stays recorded.
    np.testing.assert_array_equal(iter_frames_table(out), iter_frames_table(run_dir))
    summary = summarize_run(out)
    assert summary.problems == [] and summary.volumes_saved == 4
    meta = read_metadata(out)
    assert meta["source_run"] == str(run_dir.resolve()) and meta["stop_reason"] == "completed"
    assert [op["op"] for op in meta["operations"]] == [
        "convert",
        "background_correction",
        "bin",
        "max_projection",
    ]
    assert meta["operations"][1]["flat"] == str(flat_run.resolve())
    with h5py.File(out / "dataset.h5", "r") as f:
        assert f.attrs["pixel_size_um"] == 2.0 and f.attrs["source_run"] == str(run_dir.resolve())
        assert "waveforms" in f
    assert {s.phase for s in steps} == {"reading", "correcting", "projecting", "writing"}
    assert steps[-1] == Step("writing", 4, 4, "volume")


def test_a_cancel_while_writing_keeps_whole_volumes_and_says_so(tmp_path, source, pool):
    run_dir, raw = source
    before = _fingerprint(run_dir)
    cancel = threading.Event()

    def progress(step: Step) -> None:
        if step.phase == "writing" and step.done == 1:
            cancel.set()

    out = tmp_path / "out"
    outcome = process_run(
        ProcessOptions(run_dir, out, bin_factor=2), progress=progress, cancel=cancel, pool=pool
    )
    assert (outcome.status, outcome.volumes_saved) == ("interrupted", 1)
    assert _fingerprint(run_dir) == before  # the source is never written to
    meta = read_metadata(out)
    assert meta["stop_reason"] == "interrupted" and meta["volumes_saved"] == 1
    assert meta["processing"]["phase"] == "writing"
    expected = reference(raw, present_mask(), factor=2)[:1]
    np.testing.assert_allclose(_read(out), expected, rtol=1e-6)
    assert summarize_run(out).problems == []


def test_a_cancel_while_correcting_writes_nothing_and_counts_what_was_done(tmp_path, source, pool):
    run_dir, _ = source
    before = _fingerprint(run_dir)
    cancel = threading.Event()

    def progress(step: Step) -> None:
        if step.phase == "correcting" and step.done == 2:
            cancel.set()

    outcome = process_run(
        ProcessOptions(run_dir, tmp_path / "out", max_projection=True),
        progress=progress,
        cancel=cancel,
        pool=pool,
    )
    assert (outcome.status, outcome.volumes_saved) == ("interrupted", 0)
    assert _fingerprint(run_dir) == before
    processing = read_metadata(tmp_path / "out")["processing"]
    assert processing["phase"] == "correcting" and processing["planes_total"] == 20
    assert 2 <= processing["planes_processed"] <= 20


def test_a_failing_worker_is_a_fault_with_one_line_and_no_shared_memory(
    tmp_path, source, pool, monkeypatch
):
    run_dir, _ = source
    monkeypatch.setattr(shared_engine, "process_plane", workfuncs.fail_on_gap)
    outcome = process_run(ProcessOptions(run_dir, tmp_path / "out", bin_factor=2), pool=pool)
    assert outcome.status == "fault"
    assert outcome.stop_reason == "fault: item 7: ValueError: plane 7 has no frame"
    meta = read_metadata(tmp_path / "out")
    assert meta["stop_reason"] == outcome.stop_reason and meta["volumes_saved"] == 0
    # no_blocks_left (conftest) checks that every shared block is gone


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dark": "wrong.npy"}, "image is 8 × 8, the run's frames are 48 × 42"),
        ({"flat": "missing.npy"}, "no such file or run folder"),
        ({"run_dir": "nowhere"}, "not a lightsheet run"),
        ({"bin_factor": 64}, "cannot bin a 48 × 42 image by 64"),
        ({"out_dir": "raw/inside"}, "must not be the source run or inside it"),
        ({"max_projection": False}, "nothing to do"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, source, change, message):
    run_dir, _ = source
    np.save(tmp_path / "wrong.npy", np.zeros((8, 8), np.float32))
    options = {"run_dir": run_dir, "out_dir": tmp_path / "out", "max_projection": True}
    for key, value in change.items():
        options[key] = tmp_path / value if isinstance(value, str) else value
    with pytest.raises(ProcessingInputError, match=message) as caught:
        process_run(ProcessOptions(**options))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_run_that_does_not_fit_in_memory_goes_to_dask(tmp_path, source, monkeypatch):
    from lightsheet.postprocess import plan as plan_module

    run_dir, _ = source
    options = ProcessOptions(run_dir, tmp_path / "out", bin_factor=2)
    assert plan_module.make_plan(options).engine == "threads"  # the measured default
    monkeypatch.setattr(plan_module, "fits_in_memory", lambda nbytes: False)
    assert plan_module.make_plan(options).engine == "dask"
    forced = ProcessOptions(run_dir, tmp_path / "out", bin_factor=2, engine="processes")
    with pytest.raises(ProcessingInputError, match="more than is free: use --engine dask"):
        plan_module.make_plan(forced)


def test_a_tiff_reference_reads_like_the_same_npy(tmp_path):
    import tifffile

    from lightsheet.postprocess.references import load_reference

    image = np.random.default_rng(6).integers(0, 4000, (12, 10)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "flat.tif", image)
    np.save(tmp_path / "flat.npy", image)
    from_tiff = load_reference(tmp_path / "flat.tif", (12, 10), "flat")
    assert from_tiff.dtype == np.float32
    from_npy = load_reference(tmp_path / "flat.npy", (12, 10), "flat")
    np.testing.assert_array_equal(from_tiff, from_npy)
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    with pytest.raises(ProcessingInputError, match=r"--flat .*broken.tif: unreadable image"):
        load_reference(tmp_path / "broken.tif", (12, 10), "flat")

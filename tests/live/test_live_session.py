"""Live processing on the simulated rig through the Session: the two mirroring ways behave as
documented and in order, before and after the processor starts; a processor that raises or a
processor process that dies never stops a run; saved results equal the processor applied to the
saved raw frames; nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.app.acquisition import Acquisition, run_acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.processing.results import Result
from lightsheet.runtime.logs import setup_process_logging, stop_process_logging
from lightsheet.storage.run_reader import iter_frames_table
from tests.live.helpers import Fragile, Probe
from tests.pipeline.rigs import small_rig
from tests.waiting import wait_until

PLANES = 5


def rig(**processing):
    return small_rig(PLANES).updated(processing=processing)


def result_of_version(session: Session, version: int, seen: list[Result]) -> Result:
    def newest() -> Result | None:
        got = session.processing.latest_result()
        if got is not None:
            seen.append(got)
        return got if got is not None and got.version >= version else None

    return wait_until(newest, 20, f"a result of settings version {version}")


@pytest.fixture
def main_log(tmp_path: Path):
    """The main process's log file (where a processor thread logs), as the CLI and GUI set it."""
    setup_process_logging("main", tmp_path / "logs", "INFO")
    yield tmp_path / "logs" / "main.log"
    stop_process_logging()


@pytest.mark.parametrize("multi_core", [True, False], ids=["process", "thread"])
def test_update_settings_and_pipe_message_change_the_running_copy_as_documented(
    tmp_path: Path, main_log: Path, multi_core: bool
) -> None:
    session = Session(rig(multi_core=multi_core), log_dir=tmp_path / "logs")
    local = session.processing.set_processor(Probe())  # before anything runs
    session.processing.pipe_message("add", 5)  # applied when it starts, after the set
    seen: list[Result] = []
    with session:
        session.set_mode("planar")
        assert result_of_version(session, 2, seen).data[:2].tolist() == [1, 5]
        local.factor = 3
        session.processing.update_settings()  # the local object replaces the running copy
        assert result_of_version(session, 3, seen).data[:2].tolist() == [3, 0]  # state reset
        session.processing.pipe_message("factor", 7)  # the running copy only
        assert result_of_version(session, 4, seen).data[:2].tolist() == [7, 0]
        assert local.factor == 3  # the local copy is stale now, as documented
        session.processing.pipe_message("add", 1)
        session.processing.update_settings()  # made after the message: undoes it
        assert result_of_version(session, 6, seen).data[:2].tolist() == [3, 0]
        session.processing.update_settings()
        session.processing.pipe_message("add", 2)  # made after the update: kept
        assert result_of_version(session, 8, seen).data[:2].tolist() == [3, 2]
        assert session.processing.take_events() == []
        where = session.processing.stats().where
    assert where == ("process" if multi_core else "thread")
    versions = [r.version for r in seen]
    assert versions == sorted(versions)  # applied in the order they were made
    log = (tmp_path / "logs" / "processor.log" if multi_core else main_log).read_text()
    assert log.index("pipe_message v2: add (5,)") < log.index("pipe_message v5: add (1,)")


def test_a_raising_processor_is_switched_off_and_the_run_keeps_its_data(tmp_path: Path) -> None:
    """The processor reads only the newest frame and may skip any, so the run is long enough for
    it to reach its third (40 volumes of 10 ms frames, 2 s) and its state is waited for: with 6
    volumes of 2 ms frames, a loaded machine ended the run before the processor's third frame."""
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    config = small_rig(PLANES, exposure_ms=10.0).updated(processing={"multi_core": True})
    session = Session(config, log_dir=folder / "logs")
    session.processing.set_processor(Fragile())
    with session:
        outcome = run_acquisition(session, folder, 40, None)
        stats = wait_until(
            lambda: (now := session.processing.stats()).state == "switched off" and now,
            20,
            "the processor switched off",
        )
        events = session.processing.take_events()
    assert outcome.status == "completed" and outcome.frames_saved == 40 * PLANES
    assert stats.state == "switched off" and stats.errors == 1
    assert len(events) == 1 and "ZeroDivisionError: fragile gave up" in events[0].traceback
    assert "switched off" in events[0].text
    assert iter_frames_table(folder)["present"].all()
    log = (folder / "logs" / "processor.log").read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log


def test_a_killed_processor_process_is_started_again_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    config = small_rig(PLANES, exposure_ms=10.0).updated(
        processing={"name": "focus", "on_error": "restart"})  # 120 volumes: 6 s
    session = Session(config, log_dir=folder / "logs")
    with session:
        acquisition = Acquisition(session, folder, volumes=120)
        acquisition.start()
        first = wait_until(lambda: session.process_pids().get("processor"), 20, "processor")
        os.kill(first, signal.SIGKILL)
        assert not acquisition.poll().done  # killed while the run goes on
        wait_until(lambda: session.process_pids().get("processor", first) != first, 30,
                   "the processor started again")  # fmt: skip
        wait_until(lambda: session.processing.stats().frames > 0, 30, "frames processed again")
        wait_until(lambda: acquisition.poll().done, 60, "the run to end")
        outcome = acquisition.finish()
        events = session.processing.take_events()
        assert session.fault is None
    assert outcome.status == "completed" and outcome.volumes_saved == 120
    assert any("processor process killed by signal SIGKILL" in e.text for e in events)


def test_saved_results_equal_the_processor_on_the_saved_raw_frames(tmp_path: Path) -> None:
    background = np.full((64, 64), 120, np.float32)
    np.save(tmp_path / "bg.npy", background)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    config = rig(name="background", options={"background_path": str(tmp_path / "bg.npy")},
                 multi_core=True, shared_memory=True, save=True)  # fmt: skip
    with Session(config, log_dir=folder / "logs") as session:
        session.set_mode("volumetric")
        outcome = run_acquisition(session, folder, 8, None)
    assert outcome.status == "completed"
    metadata = json.loads((folder / "metadata.json").read_text())
    saved = metadata["processing"]["saved"]["background"]
    with h5py.File(folder / "dataset.h5", "r") as run:
        raw, frames = run["data"], run["frames"][:]
        results = run["processed/background"]
        index = run["processed/background_results"][:]
        table = run["processed/background_frames"][:]
        assert table["frame_id"].tolist() == list(range(8 * PLANES))  # every frame recorded
        assert int(table["present"].sum()) == saved["frames_processed"] == len(index) > 0
        assert saved["frames_not_processed"] == 8 * PLANES - saved["frames_processed"]
        assert index["frame_id"].tolist() == table["frame_id"][table["present"]].tolist()
        for row, frame_id in enumerate(index["frame_id"]):
            volume, plane = divmod(int(frame_id), PLANES)
            assert frames[volume * PLANES + plane]["frame_id"] == frame_id
            expected = np.maximum(raw[volume, plane].astype(np.float32) - background, 0)
            np.testing.assert_array_equal(results[row], expected)

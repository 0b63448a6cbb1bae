"""A run's numbers are its own: counts frozen when its end passed the saver, truthful after a
fault or a drain that never finished, commands and their acknowledgements in the logs."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

from lightsheet.app.acquisition import Acquisition, run_acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.processes.commands import RunClosed
from lightsheet.storage.run_reader import iter_frames_table
from tests.waiting import wait_until

from .rigs import small_rig

PLANES = 5


def metadata_of(folder: Path) -> dict:
    return json.loads((folder / "metadata.json").read_text())


def test_a_run_started_from_a_preview_reports_its_own_counts(tmp_path: Path) -> None:
    config = small_rig(PLANES, drop_frame_ids=[7])
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        session.set_mode("volumetric")
        outcome = run_acquisition(session, folder, 4, None)
        # The preview resumed after the run: its frames must not leak into the run's numbers.
        wait_until(lambda: session.status_values()["frame_rate_hz"] > 0, 10, "preview resumed")
    metadata = metadata_of(folder)
    assert (metadata["frames_acquired"], metadata["frames_missing"]) == (20, 1)
    assert metadata["frames_dropped"] == 0
    assert outcome.status == "dropped"
    assert (outcome.frames_acquired, outcome.frames_missing) == (20, 1)


def test_gaps_recorded_while_a_faulted_run_shuts_down_are_in_the_metadata(
    tmp_path: Path,
) -> None:
    config = small_rig(PLANES, exposure_ms=20.0)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=200)
        acquisition.start()

        def mid_volume() -> bool:
            progress = acquisition.poll()
            return progress.volumes_saved >= 1 and progress.frames_acquired % PLANES in (1, 2)

        wait_until(mid_volume, 30, "a volume half acquired", poll_s=0.002)
        os.kill(session.process_pids()["camera"], signal.SIGKILL)
        wait_until(lambda: acquisition.poll().fault is not None, 5, "the fault")
        outcome = acquisition.finish()
    table = iter_frames_table(folder)
    absent = int((~table["present"]).sum())
    assert absent > 0, "the partial volume is saved with its missing planes"
    metadata = metadata_of(folder)
    assert metadata["frames_missing"] == absent == outcome.frames_missing
    assert metadata["volumes_saved"] * PLANES == len(table)


def test_a_drain_that_does_not_finish_is_a_fault_not_a_completed_run(tmp_path: Path) -> None:
    config = small_rig(PLANES, exposure_ms=5.0)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=4, drain_timeout_s=1.0)
        saver = session.process_pids()["saver"]
        acquisition.start()
        os.kill(saver, signal.SIGSTOP)  # alive, but it will not close the files in time

        def resume_once_given_up() -> None:
            # Once the run is cut off, the saver may go on: the shutdown then closes its files.
            wait_until(lambda: acquisition.run.failure is not None, 30, "the drain timeout")
            os.kill(saver, signal.SIGCONT)

        resumer = threading.Thread(target=resume_once_given_up)
        resumer.start()
        try:
            wait_until(lambda: acquisition.poll().frames_acquired >= 4 * PLANES, 30, "frames")
            outcome = acquisition.finish()
        finally:
            resumer.join()
    assert outcome.status == "fault", outcome
    assert "saver" in outcome.stop_reason and "1 s" in outcome.stop_reason
    assert metadata_of(folder)["stop_reason"] == outcome.stop_reason


def test_an_exposure_change_of_a_free_running_camera_applies_live(tmp_path: Path) -> None:
    config = small_rig(PLANES, exposure_ms=2.0)
    log_dir = tmp_path / "logs"
    with Session(config, log_dir=log_dir) as session:
        session.set_mode("volumetric")
        wait_until(lambda: session.status_values()["frame_rate_hz"] > 0, 10, "preview")
        camera_log = log_dir / "camera.log"
        starts = camera_log.read_text().count("camera started")
        scanner_lines = len((log_dir / "scanner.log").read_text().splitlines())
        changed = config.model_copy(deep=True)
        changed.camera.exposure_ms = 3.0
        session.apply_config(changed)
        wait_until(lambda: "exposure 3 ms applied live" in camera_log.read_text(), 10, "live")
        assert camera_log.read_text().count("camera started") == starts
        assert len((log_dir / "scanner.log").read_text().splitlines()) == scanner_lines


def test_a_run_the_saver_cut_off_is_never_reported_completed(tmp_path: Path) -> None:
    """The saver closes a run without its end only on its way down (a full disk, a replaced
    run) and reports that before the fault that says why; under load the report came first and
    the run was written as completed, exit 0 (the disk-full test failed so on a busy machine).
    Here the saver's cut-off report arrives and no fault ever follows it."""
    config = small_rig(PLANES, exposure_ms=5.0)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=1000)
        acquisition.start()
        wait_until(lambda: acquisition.poll().volumes_saved >= 1, 30, "a volume saved")
        run = acquisition.run
        assert run is not None
        cut_off = RunClosed(run=run.run, ended=False, frames_acquired=0, frames_dropped=0,
                            frames_missing=0, volumes_saved=1, chunks=1)  # fmt: skip
        session._on_notice("saver", cut_off)  # as the saver's notice reaches the session
        assert acquisition.poll().done
        outcome = acquisition.finish()
    assert outcome.status == "fault", outcome
    assert outcome.stop_reason.startswith("fault: saver: "), outcome.stop_reason
    assert metadata_of(folder)["stop_reason"] == outcome.stop_reason

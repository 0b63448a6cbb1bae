"""How a run ends when the camera holds a slot it never filled, or the rings are full."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from lightsheet.app.acquisition import Acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.hardware.trigger.simulated_device import SimulatedTriggerDevice
from lightsheet.storage.run_reader import iter_frames_table
from tests.cli.cli_helpers import lightsheet, write_config
from tests.pipeline.rigs import small_rig
from tests.pipeline.test_trigger_runs import triggered_rig
from tests.waiting import wait_until

PLANES = 5


def test_a_run_whose_last_frame_the_camera_lost_ends_with_a_recorded_gap(tmp_path: Path) -> None:
    last = 4 * PLANES - 1  # the camera's read of the run's last frame times out
    config = write_config(small_rig(PLANES, drop_frame_ids=[last]), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    result = lightsheet("acquire", "--config", str(config), "--volumes", "4", "--out", str(run))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    metadata = json.loads((run / "metadata.json").read_text())
    assert (metadata["frames_acquired"], metadata["frames_missing"]) == (4 * PLANES, 1)
    assert metadata["volumes_saved"] == 4
    assert metadata["process_states"]["camera"] == "running"


@pytest.fixture
def device():
    with SimulatedTriggerDevice() as dev:
        yield dev


def test_a_stop_before_the_trigger_came_ends_the_run_cleanly(tmp_path: Path, device) -> None:
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    config = triggered_rig("wait", device.port)  # the camera waits for pulses that never come
    with Session(config, log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=10)
        acquisition.start()
        wait_until(lambda: device.wait_for_line(b"ARMED", 0) is not None, 10, "ARMED")
        acquisition.interrupt("stopped by the operator")
        wait_until(lambda: acquisition.poll().done, 10, "the run to end")
        outcome = acquisition.finish()
        assert session.fault is None
        assert session.process_states()["camera"] == "running"
    assert outcome.status == "completed" and outcome.stop_reason == "stopped by the operator"
    assert outcome.volumes_saved == 0


def test_the_end_of_a_run_under_back_pressure_is_not_a_hang(tmp_path: Path) -> None:
    # The saver stops taking volumes for longer than the camera's heartbeat limit (2 s) as the
    # run ends: the dispatcher waits on the full volume ring, the frame ring fills, and the
    # camera waits for a slot for its end marker. Waiting is back-pressure: both must beat.
    config = small_rig(PLANES, exposure_ms=2.0)
    config.buffers.frame_ring_mb = 0.05  # a handful of slots each
    config.buffers.volume_ring_mb = 0.1
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        saver = session.process_pids()["saver"]
        acquisition = Acquisition(session, folder, volumes=30)
        acquisition.start()
        os.kill(saver, signal.SIGSTOP)
        try:
            log = folder / "logs" / "camera.log"
            wait_until(lambda: "run" in log.read_text() and acquisition.poll().frames_acquired
                       >= 30 * PLANES, 20, "every frame taken")  # fmt: skip
            assert wait_until_or_none(lambda: session.fault, 3.0) is None, session.fault
        finally:
            os.kill(saver, signal.SIGCONT)
        wait_until(lambda: acquisition.poll().done, 20, "the run to end")
        outcome = acquisition.finish()
    assert outcome.status == "dropped", outcome
    assert outcome.frames_acquired == 30 * PLANES
    assert outcome.frames_dropped > 0


def wait_until_or_none(condition, timeout: float):
    try:
        return wait_until(condition, timeout, "the condition")
    except AssertionError:
        return None


def test_frames_committed_when_the_camera_died_are_saved_not_lost(tmp_path: Path) -> None:
    config = small_rig(PLANES, exposure_ms=3.0)
    config.saving.chunk_ram_mb = 0.05
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        pids = session.process_pids()
        acquisition = Acquisition(session, folder, volumes=200)
        acquisition.start()
        wait_until(lambda: acquisition.poll().volumes_saved >= 2, 20, "two volumes")
        os.kill(pids["dispatcher"], signal.SIGSTOP)  # frames pile up in the frame ring
        wait_until(lambda: acquisition.poll().frame_ring_fill > 0.5, 10, "a full frame ring")
        taken = acquisition.poll().frames_acquired - acquisition.poll().frames_dropped
        os.kill(pids["camera"], signal.SIGKILL)
        os.kill(pids["dispatcher"], signal.SIGCONT)
        wait_until(lambda: session.fault is not None, 5, "the fault")
        outcome = acquisition.finish()
    table = iter_frames_table(folder)
    assert outcome.status == "fault" and "camera" in outcome.stop_reason
    # Everything the camera had handed over was placed and saved: none is missing before it.
    assert int(table["present"].sum()) >= taken
    assert outcome.frames_saved == int(table["present"].sum())


def test_a_headless_run_copies_nothing_for_a_preview_nobody_watches(tmp_path: Path) -> None:
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(small_rig(PLANES), log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=5)
        acquisition.start()
        wait_until(lambda: acquisition.poll().done, 20, "the run to end")
        acquisition.finish()
        assert session.latest_preview() is None

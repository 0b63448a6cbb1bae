"""Scanner and camera in a closed loop: the simulated camera exposes on the board's trigger pulses
and images the z the light sheet is at, so a misaligned trigger shows up in the saved data."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from lightsheet.app.acquisition import run_acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.config import RigConfig
from lightsheet.hardware.camera.factory import open_camera
from lightsheet.hardware.daq.protocol import DaqSettings
from lightsheet.storage.run_reader import open_run, read_waveforms

from .rigs import our_blocks

PLANES = 6


def scanned_rig(mode: str = "volumetric") -> RigConfig:
    return RigConfig.model_validate(
        {
            "camera": {
                "sensor_width": 96,
                "sensor_height": 96,
                "exposure_ms": 4.0,
                "trigger_mode": "external",
                "simulated": {"n_beads": 150, "read_noise": 1.0},
            },
            "scanning": {
                "mode": mode,
                "n_planes": PLANES,
                "z_start_um": 0.0,
                "z_end_um": 40.0,
                "volume_rate_hz": 5.0,
            },
            "buffers": {"frame_ring_mb": 2, "volume_ring_mb": 2},
        }
    )


def best_matching_plane(image: np.ndarray, expected: np.ndarray) -> int:
    """Index of the expected plane most correlated with ``image``."""
    a = image.astype(np.float64).ravel()
    a = (a - a.mean()) / a.std()
    scores = []
    for plane in expected:
        b = plane.astype(np.float64).ravel()
        b = (b - b.mean()) / b.std()
        scores.append(float(a @ b))
    return int(np.argmax(scores))


def planes_in_register(volumes: np.ndarray, expected: np.ndarray) -> bool:
    """True if plane k of every volume looks most like the phantom at the z of plane k."""
    return all(
        best_matching_plane(volume[k], expected) == k
        for volume in volumes
        for k in range(len(expected))
    )


def test_each_saved_plane_shows_the_phantom_at_its_commanded_z(tmp_path: Path) -> None:
    config = scanned_rig()
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        outcome = run_acquisition(session, folder, 3, None)
        phantom_planes = session.z_positions_um()  # the camera process's phantom was built on them
    assert outcome.status == "completed", outcome
    waveforms = read_waveforms(folder)
    assert waveforms is not None and waveforms["mode"] == "volumetric"
    plane_z = np.asarray(waveforms["plane_z_um"])
    assert len(plane_z) == PLANES
    assert len(np.flatnonzero(np.diff((waveforms["channels"]["camera_trigger"] > 1.4) * 1) == 1))\
        in (PLANES, PLANES - 1)  # one pulse per plane (a pulse may straddle the period's start)
    camera = open_camera(config.camera, phantom_planes)
    try:
        expected = np.stack([camera.expected_image(z) for z in plane_z])
    finally:
        camera.close()
    data = open_run(folder)
    try:
        volumes = data[...]
    finally:
        data.file.close()
    assert volumes.shape == (3, PLANES, 96, 96)
    assert planes_in_register(volumes, expected)
    # The check has teeth: a trigger one plane late would put every plane one z off.
    assert not planes_in_register(volumes, np.roll(expected, 1, axis=0))


def test_a_killed_camera_leaves_every_output_of_the_board_safe(tmp_path: Path) -> None:
    config = scanned_rig()
    safe = DaqSettings.from_config(config.daq).safe_values
    with Session(config, log_dir=tmp_path / "logs") as session:
        session.set_mode("volumetric")
        deadline = time.monotonic() + 30
        while session.latest_preview() is None:  # the scan runs and frames come back
            assert time.monotonic() < deadline, "no preview volume while scanning"
            time.sleep(0.02)
        os.kill(session.process_pids()["camera"], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while session.fault is None or session.process_states().get("scanner") == "running":
            assert time.monotonic() < deadline, "the supervisor did not stop the scanner"
            time.sleep(0.02)
        assert session.fault.process == "camera"
        outputs = session.board_outputs()
        assert outputs == safe, outputs
    assert not our_blocks()


def test_the_z_galvo_is_fed_forward_from_the_measured_piezo(tmp_path: Path) -> None:
    from lightsheet.app.scan_plan import scan_waveforms

    played = {}
    for readback in (True, False):
        config = scanned_rig()
        config.daq.simulated.piezo_lag_ms = 5.0
        config.daq.piezo_readback.enabled = readback
        folder = prepare_run_folder(tmp_path / f"run-{readback}", overwrite=False)
        with Session(config, log_dir=folder / "logs") as session:
            assert run_acquisition(session, folder, 1, None).status == "completed"
        played[readback] = read_waveforms(folder)
    commanded = scan_waveforms(scanned_rig(), "volumetric")
    np.testing.assert_array_equal(played[False]["channels"]["z_galvo"],
                                  commanded.channels["z_galvo"])
    fed = played[True]
    # The sheet follows where the lagging piezo really was, not where it was told to be.
    assert np.max(np.abs(fed["channels"]["z_galvo"] - commanded.channels["z_galvo"])) > 0.01
    np.testing.assert_array_equal(fed["channels"]["piezo"], commanded.channels["piezo"])
    assert np.max(np.abs(fed["sheet_z_um"] - commanded.sheet_z_um)) > 0.5

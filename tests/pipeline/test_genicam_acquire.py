"""An acquisition with ``camera.backend: genicam`` end to end, through the real command line: the
camera process streams from Aravis's GigE Vision simulator on 127.0.0.1, and every saved frame
equals the simulator's test image for its frame id, with no frame dropped or missing.

Today the camera process reads with ``read_into`` (one copy from the backend's own Aravis
buffers). Once it receives into ring slots through FrameViews, this test runs unchanged and then
covers the zero-copy path too; ``sensor_width``/``sensor_height`` below must equal the camera's
until the camera's own sensor size replaces them at start (``with_camera_sensor``).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from lightsheet.config import RigConfig
from tests.cli.cli_helpers import assert_one_line_error, lightsheet, popen, write_config
from tests.hardware.aravis_sim import (
    LOOPBACK,
    fake_pattern,
    gige_simulator,
    loopback_simulator_lock,
    stop,
    stream_id_of,
    wait_for_free_port,
)
from tests.waiting import wait_until

PLANES = 10
VOLUMES = 12  # 120 frames at 100 frames/s: the simulator's 16-bit block ids wrap in the run
SIZE = 128  # 32 KB frames: see test_camera_genicam.py on the first frame and the socket


def genicam_rig(device: str = LOOPBACK) -> RigConfig:
    return RigConfig.model_validate(
        {
            "camera": {
                "backend": "genicam",
                "device": device,
                "sensor_width": 2048,  # the simulator's sensor
                "sensor_height": 2048,
                "roi": {"x": 0, "y": 0, "width": SIZE, "height": SIZE},
                "exposure_ms": 10.0,  # 100 frames/s; the test image's brightness scale is 1
                "trigger_mode": "internal",
                "genicam": {"pixel_format": "Mono16", "packet_size": 8192},
            },
            "scanning": {"n_planes": PLANES, "z_start_um": 0.0, "z_end_um": 20.0},
            "buffers": {"frame_ring_mb": 64, "volume_ring_mb": 64},
        }
    )


def test_saved_frames_equal_the_simulators_test_image_without_drops(tmp_path: Path) -> None:
    config = write_config(genicam_rig(), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    with gige_simulator(serial="LSACQ"):
        result = lightsheet(
            "acquire", "--config", str(config), "--volumes", str(VOLUMES), "--out", str(run)
        )
    assert result.returncode == 0, result.stderr
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["frames_dropped"] == 0 and metadata["frames_missing"] == 0
    assert metadata["volumes_saved"] == VOLUMES
    with h5py.File(run / "dataset.h5", "r") as f:
        data = f["data"][:]
        frames = f["frames"][:]
    assert data.shape == (VOLUMES, PLANES, SIZE, SIZE)
    assert frames["present"].all()
    ids = frames["frame_id"].reshape(VOLUMES, PLANES)
    np.testing.assert_array_equal(ids, np.arange(VOLUMES * PLANES).reshape(VOLUMES, PLANES))
    first = stream_id_of(data[0, 0])  # the simulator's block id of frame 0
    for volume in range(VOLUMES):
        for plane in range(PLANES):
            expected = fake_pattern((SIZE, SIZE), first + int(ids[volume, plane]))
            np.testing.assert_array_equal(data[volume, plane], expected)


def test_an_absent_camera_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """The main process opens the camera for its sensor size before it sizes the rings: an absent
    camera is bad input (exit 2, one line), and no process starts."""
    config = write_config(genicam_rig(), tmp_path / "rig.yaml")
    run = tmp_path / "run"
    with loopback_simulator_lock():
        wait_for_free_port()
        result = lightsheet("acquire", "--config", str(config), "--volumes", "1", "--out", str(run))
    reason = "no GigE Vision camera answers at 127.0.0.1"
    assert reason in assert_one_line_error(result)
    assert not (run / "logs" / "camera.log").exists()


def test_a_camera_lost_mid_run_is_a_fault_with_the_data_kept(tmp_path: Path) -> None:
    rig = genicam_rig()
    rig.saving.chunk_ram_mb = 12.0  # two volumes per chunk file: progress visible on disk
    config = write_config(rig, tmp_path / "rig.yaml")
    run = tmp_path / "run"
    with gige_simulator(serial="LSLOST") as simulator:
        process = popen("acquire", "--config", str(config), "--volumes", "1000", "--out", str(run))
        try:
            wait_until(lambda: len(list((run / "chunks").glob("*.h5"))) >= 2, 60, "two chunks")
            stop(simulator)  # the camera is unplugged
            _stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["stop_reason"].startswith("fault: camera")
    assert "stopped answering" in metadata["stop_reason"]
    with h5py.File(run / "dataset.h5", "r") as f:
        assert f["data"].shape[0] == metadata["volumes_saved"] >= 4

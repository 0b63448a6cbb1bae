"""The camera warns that it lags only on a real shortfall: a clean start (preview, then a run,
each waiting for the board's first trigger) logs no "camera lags"."""

from __future__ import annotations

from pathlib import Path

from lightsheet.app.acquisition import run_acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.config import RigConfig
from tests.waiting import wait_until

RIG = {
    "camera": {"sensor_width": 64, "sensor_height": 64, "exposure_ms": 2.0,
               "trigger_mode": "external", "simulated": {"n_beads": 20}},
    "scanning": {"n_planes": 5, "z_start_um": 0.0, "z_end_um": 20.0, "volume_rate_hz": 4.0},
    "buffers": {"frame_ring_mb": 2, "volume_ring_mb": 2},
}  # fmt: skip


def test_a_clean_start_logs_no_camera_lag(tmp_path: Path) -> None:
    config = RigConfig.model_validate(RIG)
    logs = tmp_path / "logs"
    with Session(config, log_dir=logs) as session:
        session.set_mode("volumetric")
        expected = session.frame_rate_hz  # 5 planes at 4 volumes/s: about 22 frames/s
        # Two whole rate windows of one second each, measured from the first frame.
        wait_until(lambda: session.last_status()["camera.frames"] >= 2.2 * expected, 30,
                   "two seconds of frames")  # fmt: skip
        first = session.status_values()["frame_rate_hz"]
        outcome = run_acquisition(session, prepare_run_folder(tmp_path / "run", False), None, 2.5)
    assert outcome.status == "completed" and outcome.frames_dropped == 0, outcome
    assert abs(first - expected) < 0.1 * expected, (first, expected)
    camera_log = (logs / "camera.log").read_text()
    assert "camera lags" not in camera_log
    assert "camera started: acquire" in camera_log, "the run's start was logged too"

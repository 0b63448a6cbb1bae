"""Runs of the simulated rig made through the real ``lightsheet acquire``, shared by the timing
tests (each takes a few seconds, so every kind of run is made once per test session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lightsheet.config import RigConfig
from tests.cli.cli_helpers import lightsheet, write_config
from tests.pipeline.rigs import small_rig

PLANES = 8
Z_END_UM = 28.0
VOLUMES = 6


def triggered_rig(**simulated: Any) -> RigConfig:
    """Small frames, the camera triggered by the simulated board as on the default rig, and a
    long exposure (24 ms of a 28.1 ms plane) so a late camera is still lit but at the wrong z."""
    return RigConfig.model_validate(
        {
            "camera": {
                "sensor_width": 96,
                "sensor_height": 96,
                "exposure_ms": 24.0,
                "trigger_mode": "external",
                "simulated": simulated,
            },
            "scanning": {
                "n_planes": PLANES, "z_start_um": 0.0, "z_end_um": Z_END_UM, "volume_rate_hz": 4.0,
            },
            "buffers": {"frame_ring_mb": 4, "volume_ring_mb": 4},
        }
    )


def acquire(folder: Path, config: RigConfig, *args: str, expect: int = 0) -> Path:
    config_file = write_config(config, folder / "rig.yaml")
    run = folder / "run"
    result = lightsheet("acquire", "--config", str(config_file), "--out", str(run), "-q", *args)
    assert result.returncode == expect, result.stderr
    return run


@pytest.fixture(scope="session")
def in_sync_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return acquire(tmp_path_factory.mktemp("in_sync"), triggered_rig(), "--volumes", str(VOLUMES))


@pytest.fixture(scope="session")
def late_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rig = triggered_rig(exposure_delay_ms=10.0)
    return acquire(tmp_path_factory.mktemp("late"), rig, "--volumes", str(VOLUMES))


@pytest.fixture(scope="session")
def gappy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rig = triggered_rig(drop_frame_ids=[5, 17, 18])
    # Exit 3: finished with frames missing, all counted.
    return acquire(tmp_path_factory.mktemp("gappy"), rig, "--volumes", str(VOLUMES), expect=3)


@pytest.fixture(scope="session")
def free_running_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return acquire(tmp_path_factory.mktemp("free"), small_rig(5), "--volumes", "4")


@pytest.fixture(scope="session")
def planar_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("planar")
    return acquire(folder, triggered_rig(), "--mode", "planar", "--volumes", "20")

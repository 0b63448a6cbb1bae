"""Small simulated rigs for pipeline tests: tiny frames so a run takes seconds, not minutes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.config import RigConfig
from lightsheet.hardware.camera.factory import open_camera
from lightsheet.runtime.shm import list_blocks, owner_pid


def small_rig(planes: int = 5, size: int = 64, exposure_ms: float = 2.0, **simulated: Any):
    """A rig with ``size`` x ``size`` frames, ``planes`` planes per volume, stamped frame ids."""
    return RigConfig.model_validate(
        {
            "camera": {
                "sensor_width": size,
                "sensor_height": size,
                "exposure_ms": exposure_ms,
                "trigger_mode": "internal",  # free-running: frame k shows plane k % planes
                "simulated": {"stamp_frame_id": True, "n_beads": 20, **simulated},
            },
            "scanning": {"n_planes": planes, "z_start_um": 0.0, "z_end_um": 20.0},
            "buffers": {"frame_ring_mb": 1, "volume_ring_mb": 1},
        }
    )


def camera_frames(
    config: RigConfig, z_positions_um: list[float], count: int
) -> dict[int, np.ndarray]:
    """The frames (by frame id) the simulated camera of ``config`` produces first, read directly.

    The simulated camera is deterministic for a given config, so this is exactly what the
    camera process produced in a run with the same config.
    """
    camera = open_camera(config.camera, z_positions_um)
    height, width = camera.frame_shape
    frames: dict[int, np.ndarray] = {}
    camera.start()
    try:
        while len(frames) < count:
            frame = np.empty((height, width), dtype=np.uint16)
            info = camera.read_into(frame, timeout_s=5.0)
            assert info is not None, "simulated camera produced no frame"
            frames[info.frame_id] = frame
    finally:
        camera.close()
    return frames


def our_blocks() -> list[str]:
    """``lightsheet-*`` shared-memory blocks of this test process (the Session owns them all)."""
    return [name for name in list_blocks() if owner_pid(name) == os.getpid()]


def log_pid(run_dir: Path, process: str) -> int | None:
    """The pid a process logged at start-up ("started, pid N"), once it has."""
    path = run_dir / "logs" / f"{process}.log"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if "started, pid " in line:
            return int(line.rsplit("started, pid ", 1)[1].split()[0])
    return None

"""The frame pipeline end to end: what reaches the disk is what the camera produced."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.app.acquisition import Acquisition, run_acquisition
from lightsheet.app.planning import MB
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.hardware.camera.simulated import decode_frame_id
from lightsheet.runtime.ring import Ring
from lightsheet.storage.run_reader import iter_frames_table, open_run
from tests.waiting import wait_until

from .rigs import camera_frames, our_blocks, small_rig

PLANES = 5


def acquire(config, tmp_path: Path, volumes: int):
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        outcome = run_acquisition(session, folder, volumes, None)
        z = session.z_positions_um()
    return folder, outcome, z


def saved(folder: Path) -> np.ndarray:
    data = open_run(folder)
    try:
        return data[...]
    finally:
        data.file.close()


def test_saved_volumes_equal_the_camera_frames(tmp_path: Path) -> None:
    config = small_rig(PLANES)
    folder, outcome, z = acquire(config, tmp_path, volumes=4)

    assert outcome.status == "completed"
    data = saved(folder)
    assert data.shape == (4, PLANES, 64, 64)
    expected = camera_frames(config, z, 4 * PLANES)
    for frame_id, frame in expected.items():
        volume, plane = divmod(frame_id, PLANES)
        assert decode_frame_id(data[volume, plane]) == frame_id
        np.testing.assert_array_equal(data[volume, plane], frame)
    table = iter_frames_table(folder)
    assert table["frame_id"].tolist() == list(range(4 * PLANES))
    assert table["present"].all()
    assert np.all(np.diff(table["host_ts"]) > 0)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["stop_reason"] == "completed"
    assert metadata["volumes_saved"] == 4
    assert metadata["frames_acquired"] == 4 * PLANES
    assert metadata["frames_dropped"] == 0
    assert our_blocks() == []


def test_a_missing_frame_is_a_recorded_gap_and_later_planes_stay_aligned(tmp_path: Path) -> None:
    lost = 7  # volume 1, plane 2
    config = small_rig(PLANES, drop_frame_ids=[lost])
    folder, outcome, z = acquire(config, tmp_path, volumes=3)

    assert outcome.status == "dropped"
    assert outcome.frames_missing == 1
    data = saved(folder)
    table = iter_frames_table(folder).reshape(3, PLANES)
    assert not table[1, 2]["present"] and table[1, 2]["frame_id"] == -1
    assert not data[1, 2].any()
    expected = camera_frames(config, z, 3 * PLANES - 1)
    assert lost not in expected
    for frame_id, frame in expected.items():
        volume, plane = divmod(frame_id, PLANES)
        assert table[volume, plane]["frame_id"] == frame_id
        np.testing.assert_array_equal(data[volume, plane], frame)


def test_frames_dropped_counts_exactly_the_frames_the_ring_refused(tmp_path: Path) -> None:
    # Two frame slots and a camera far faster than the dispatcher: the ring must refuse frames.
    config = small_rig(PLANES, size=256, exposure_ms=0.05)
    config.buffers.frame_ring_mb = 0.2
    folder, outcome, _ = acquire(config, tmp_path, volumes=40)

    table = iter_frames_table(folder)
    absent = int((~table["present"]).sum())
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["frames_dropped"] > 0, "the test needs a ring that overflows"
    assert metadata["frames_dropped"] == absent
    assert metadata["frames_missing"] == absent
    assert outcome.status == "dropped"
    # Every frame that did arrive sits at the place its id says.
    data = saved(folder)
    present = table[table["present"]]
    for row in present[:: max(len(present) // 50, 1)]:
        frame_id = int(row["frame_id"])
        assert decode_frame_id(data[frame_id // PLANES, frame_id % PLANES]) == frame_id
    assert metadata["frames_acquired"] == 40 * PLANES
    # The camera's log says once how long a lag the ring absorbs and what sets its size.
    log = (folder / "logs" / "camera.log").read_text()
    slots = Ring.slots_for_budget(256 * 256 * 2, int(0.2 * MB))
    assert log.count(f"the frame ring holds {slots} frames") == 1
    assert "buffers.frame_ring_mb sets its size" in log


@pytest.mark.parametrize("victim", ["saver", "dispatcher"])
def test_a_killed_process_leaves_completed_chunks_readable(tmp_path: Path, victim: str) -> None:
    config = small_rig(PLANES, size=128, exposure_ms=5.0)
    config.saving.chunk_ram_mb = 0.2  # one volume per chunk file
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    with Session(config, log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=500)
        acquisition.start()
        chunks = folder / "chunks"
        wait_until(lambda: len(list(chunks.glob("*.h5"))) >= 2, 60, "two completed chunks")
        os.kill(session.process_pids()[victim], signal.SIGKILL)
        wait_until(lambda: acquisition.poll().fault is not None, 5, "the fault")
        outcome = acquisition.finish()
    assert outcome.status == "fault"
    assert victim in outcome.stop_reason
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["stop_reason"].startswith(f"fault: {victim}")
    data = saved(folder)
    assert data.shape[0] == metadata["volumes_saved"] >= 2
    for path in chunks.glob("*.h5"):
        with h5py.File(path, "r") as chunk:
            ids = chunk["frames"]["frame_id"]
            volumes = chunk["data"][...]
            for index, frame_id in enumerate(ids):
                if frame_id >= 0:
                    v, p = divmod(index, PLANES)
                    assert decode_frame_id(volumes[v, p]) == frame_id
    assert our_blocks() == []

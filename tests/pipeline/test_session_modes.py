"""Session modes: what each mode drives on the board and shows in the preview."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lightsheet.app.session import Session, SessionConfigError, SessionError
from lightsheet.hardware.daq.protocol import DaqSettings

from .rigs import our_blocks
from .test_closed_loop import PLANES, scanned_rig


def next_preview(session: Session, after: int = 0, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        preview = session.latest_preview()
        if preview is not None and preview.seq > after:
            return preview
        assert time.monotonic() < deadline, "no new preview image"
        time.sleep(0.01)


def test_every_mode_drives_the_board_and_the_preview_as_it_should(tmp_path: Path) -> None:
    config = scanned_rig()
    safe = DaqSettings.from_config(config.daq).safe_values
    with Session(config, log_dir=tmp_path / "logs") as session:
        assert session.mode == "paused"
        assert session.board_outputs() == safe

        session.set_mode("volumetric")
        volume = next_preview(session)
        assert volume.kind == "volume" and volume.image.shape == (PLANES, 96, 96)

        session.set_mode("planar")
        frame = next_preview(session, volume.seq)
        frame = next_preview(session, frame.seq)  # one from after the switch for sure
        assert frame.kind == "frame" and frame.image.shape == (96, 96)

        session.set_mode("calibration")
        session.set_calibration_outputs(galvo_v=0.5, piezo_um=12.0)
        outputs = session.board_outputs()
        assert outputs["z_galvo"] == pytest.approx(0.5)
        assert outputs["piezo"] == pytest.approx(12.0 / config.daq.piezo_um_per_v)
        with pytest.raises(SessionConfigError, match="z_galvo"):
            session.set_calibration_outputs(galvo_v=50.0, piezo_um=12.0)

        dark = session.acquire_dark(frames=4)
        assert dark.shape == (96, 96)
        # Laser blanked: the dark frame is the camera's offset, far below the sample's signal.
        assert abs(float(dark.mean()) - config.camera.simulated.dark_offset) < 5
        assert session.mode == "calibration"  # restored afterwards

        session.set_mode("paused")
        assert session.board_outputs() == safe
        with pytest.raises(SessionError, match="unknown mode"):
            session.set_mode("turbo")
    assert not our_blocks()


def test_apply_config_changes_the_running_rig_and_refuses_an_unplayable_scan(
    tmp_path: Path,
) -> None:
    config = scanned_rig()
    with Session(config, log_dir=tmp_path / "logs") as session:
        session.set_mode("volumetric")
        bigger = config.model_copy(deep=True)
        bigger.scanning.n_planes = PLANES + 2
        session.apply_config(bigger)  # more planes: new rings, processes restarted
        preview = next_preview(session)
        assert preview.image.shape == (PLANES + 2, 96, 96)
        bad = bigger.model_copy(deep=True)
        bad.scanning.z_start_um = -1000.0
        with pytest.raises(SessionConfigError, match="piezo"):
            session.apply_config(bad)
        assert session.config.scanning.z_start_um == bigger.scanning.z_start_um
        assert np.all(session.latest_preview().image.shape == preview.image.shape)

"""A slow volumetric scan is not a hang: the scanner beats and acts on pause mid-period."""

from __future__ import annotations

import time
from pathlib import Path

from lightsheet.app.session import Session
from lightsheet.hardware.daq.protocol import DaqSettings
from lightsheet.processes.status import ScannerStatus
from tests.pipeline.test_closed_loop import scanned_rig
from tests.waiting import wait_until


def test_a_scan_slower_than_the_heartbeat_runs_and_pauses_at_once(tmp_path: Path) -> None:
    config = scanned_rig()
    config.scanning.volume_rate_hz = 0.25  # a 4 s period: twice the scanner's heartbeat limit
    assert config.daq.piezo_readback.enabled
    safe = DaqSettings.from_config(config.daq).safe_values
    with Session(config, log_dir=tmp_path / "logs") as session:
        session.set_mode("volumetric")  # measures the piezo over one whole period first
        scanner = session._require_pipeline().status.section(ScannerStatus)
        wait_until(lambda: scanner.piezo_um != 0, 15, "a piezo read-back while scanning")
        assert session.fault is None
        asked = time.monotonic()
        session.set_mode("paused")
        took_ms = (time.monotonic() - asked) * 1000
        assert session.board_outputs() == safe
        assert session.fault is None
    print(f"pause acknowledged {took_ms:.0f} ms after it was asked, mid-period")

"""``lightsheet acquire --trigger`` through the real command line and a real pty."""

from __future__ import annotations

import json
from pathlib import Path

from lightsheet.hardware.trigger.simulated_device import SimulatedTriggerDevice

from .cli_helpers import assert_one_line_error, lightsheet
from .test_cli_scan import SMALL


def test_wait_mode_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "rig.yaml"
    config.write_text(SMALL)
    run = tmp_path / "run"
    with SimulatedTriggerDevice() as device:
        device.auto_trigger_on_armed(duration_s=0.6)
        result = lightsheet(
            "acquire", "--config", str(config), "--trigger", "wait", "--port", device.port,
            "--out", str(run), "-q",
        )
        assert result.returncode == 0, result.stderr
        assert device.wait_for_line(b"STOPPED", 10) == b"STOPPED 3"
    assert "volumes saved:   3" in result.stdout
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["trigger"]["duration_source"] == "device"
    assert metadata["trigger"]["port"] == device.port


def test_a_port_that_cannot_be_opened_is_refused_before_anything_starts(tmp_path: Path) -> None:
    run = tmp_path / "run"
    line = assert_one_line_error(
        lightsheet("acquire", "--volumes", "1", "--trigger", "send", "--port",
                   str(tmp_path / "ttyNONE"), "--out", str(run))
    )
    assert "ttyNONE" in line
    assert not run.exists()

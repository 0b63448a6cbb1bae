"""Ctrl-C at any step between the run folder's creation and the run's start marks the folder.

A folder left without metadata.json is neither a run nor empty: ``lightsheet inspect`` cannot
read it and the next ``acquire --out`` into it is refused. So once ``acquire`` has made the
folder, an interrupt at any later step writes ``stop_reason: interrupted`` into it. The steps are
run in-process with a KeyboardInterrupt raised right after each, as Ctrl-C would at that moment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightsheet.cli import acquire_cmd
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.interrupts import mark_interrupted
from lightsheet.cli.main import main
from lightsheet.runtime.logs import stop_process_logging
from lightsheet.storage.metadata import read_metadata, write_metadata
from tests.cli.cli_helpers import write_config
from tests.pipeline.rigs import small_rig

STEPS = ("remember_run", "require_room", "setup_process_logging")


@pytest.mark.parametrize("step", STEPS)
def test_ctrl_c_right_after_each_start_up_step_marks_the_folder(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    real = getattr(acquire_cmd, step)

    def then_ctrl_c(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(acquire_cmd, step, then_ctrl_c)
    config = write_config(small_rig(4), tmp_path / "rig.yaml")
    folder = tmp_path / "run"
    try:
        code = main(["acquire", "--config", str(config), "--volumes", "2", "--out", str(folder),
                     "--quiet"])  # fmt: skip
    finally:
        stop_process_logging()
    assert code == ExitCode.INTERRUPTED
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["stop_reason"] == "interrupted"
    assert metadata["volumes_saved"] == 0
    assert "interrupted before the run started" in capsys.readouterr().err


def test_an_interrupt_after_the_run_ended_keeps_how_it_ended(tmp_path: Path) -> None:
    write_metadata(tmp_path, {"stop_reason": "completed", "volumes_saved": 3})
    mark_interrupted(tmp_path, {})
    assert read_metadata(tmp_path) == {"stop_reason": "completed", "volumes_saved": 3}

"""Ctrl-C at any step between a run folder's creation and the run's start marks the folder.

A folder left without metadata.json is neither a run nor empty: ``lightsheet inspect`` cannot
read it and the next ``--out`` into it is refused, even with ``--overwrite``. So once ``acquire``
or ``process`` has made the folder, an interrupt at any later step writes ``stop_reason:
interrupted`` into it. The commands run in-process with a KeyboardInterrupt raised right after
a step, as Ctrl-C would at that moment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightsheet.cli import acquire_cmd, process_cmd
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.interrupts import mark_interrupted
from lightsheet.cli.main import main
from lightsheet.runtime.logs import stop_process_logging
from lightsheet.storage.metadata import read_metadata, write_metadata
from tests.cli.cli_helpers import write_config
from tests.pipeline.rigs import small_rig
from tests.processing.runs import write_run

STEPS = ("remember_run", "require_room", "setup_process_logging")


def ctrl_c_after(module: object, step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = getattr(module, step)

    def then_ctrl_c(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, step, then_ctrl_c)


@pytest.mark.parametrize("step", STEPS)
def test_ctrl_c_right_after_each_start_up_step_marks_the_folder(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    ctrl_c_after(acquire_cmd, step, monkeypatch)
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


def test_ctrl_c_before_processing_starts_marks_the_new_run_and_overwrite_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    write_run(tmp_path / "raw")
    out = tmp_path / "out"
    args = ["process", str(tmp_path / "raw"), "--out", str(out), "--bin", "2", "--quiet"]
    with monkeypatch.context() as patched:
        ctrl_c_after(process_cmd, "setup_process_logging", patched)
        try:
            assert main(args) == ExitCode.INTERRUPTED
        finally:
            stop_process_logging()
    metadata = read_metadata(out)
    assert (metadata["kind"], metadata["stop_reason"]) == ("processed", "interrupted")
    assert "lightsheet process: interrupted" in capsys.readouterr().err
    try:
        assert main([*args, "--overwrite"]) == ExitCode.OK
    finally:
        stop_process_logging()
    assert read_metadata(out)["stop_reason"] == "completed"


def test_an_interrupt_after_the_run_ended_keeps_how_it_ended(tmp_path: Path) -> None:
    write_metadata(tmp_path, {"stop_reason": "completed", "volumes_saved": 3})
    mark_interrupted(tmp_path, {})
    assert read_metadata(tmp_path) == {"stop_reason": "completed", "volumes_saved": 3}

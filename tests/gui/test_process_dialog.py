"""The GUI's processing dialog: a chosen run processed with a progress bar, a cancel that stops
it with the output saying how far it got, bad input shown in the dialog, and the menu entry."""

from __future__ import annotations

import numpy as np

from lightsheet.gui.process_dialog import ProcessDialog, open_process_dialog
from lightsheet.storage import read_metadata
from tests.processing.runs import SHAPE, write_run

from .conftest import WAIT_MS, screenshot


def _dialog(qtbot, tmp_path, **fields) -> ProcessDialog:
    dialog = ProcessDialog(tmp_path / "raw")
    qtbot.addWidget(dialog)
    dialog.out_field.edit.setText(str(tmp_path / "out"))
    dialog.workers_box.setValue(2)
    for name, value in fields.items():
        getattr(dialog, name).edit.setText(str(value))
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_a_run_is_processed_with_progress(qtbot, tmp_path) -> None:
    write_run(tmp_path / "raw")
    np.save(tmp_path / "dark.npy", np.full(SHAPE[2:], 100, np.float32))
    dialog = _dialog(qtbot, tmp_path, dark_field=tmp_path / "dark.npy")
    dialog.bin_box.setValue(2)
    dialog.projection_box.setChecked(True)
    assert dialog.start()
    assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=WAIT_MS)
    assert dialog.outcome.status == "completed" and dialog.outcome.volumes_saved == 4
    assert dialog.progress.value() == dialog.progress.maximum() > 0
    assert "completed: 4 of 4 volume(s)" in dialog.message.text()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert read_metadata(tmp_path / "out")["operations"][-1]["op"] == "max_projection"
    screenshot(dialog, "process_dialog")


def test_cancel_stops_the_job_and_the_output_says_so(qtbot, tmp_path) -> None:
    write_run(tmp_path / "raw", shape=(12, 16, 256, 256), per_chunk=2)
    dialog = _dialog(qtbot, tmp_path)
    dialog.bin_box.setValue(2)
    dialog.progress.valueChanged.connect(lambda value: dialog.cancel())  # at the first step
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=WAIT_MS)
    assert dialog.outcome.status == "interrupted"
    meta = read_metadata(tmp_path / "out")
    assert meta["stop_reason"] == "interrupted" and meta["volumes_saved"] < 12
    assert "interrupted" in dialog.message.text()


def test_bad_input_is_shown_in_the_dialog(qtbot, tmp_path) -> None:
    dialog = _dialog(qtbot, tmp_path)
    dialog.projection_box.setChecked(True)
    assert dialog.start()  # the run folder is checked on the job's thread
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)
    assert "not a lightsheet run" in dialog.message.text()
    assert dialog.outcome is None and not (tmp_path / "out").exists()
    dialog.out_field.edit.setText("")
    assert not dialog.start()
    assert "choose the run to process" in dialog.message.text()


def test_the_menu_entry_opens_one_dialog_per_window(qtbot, tmp_path) -> None:
    from qtpy.QtWidgets import QMainWindow

    parent = QMainWindow()
    qtbot.addWidget(parent)
    dialog = open_process_dialog(parent, tmp_path)
    qtbot.waitExposed(dialog)
    assert dialog.isVisible() and dialog.run_field.edit.text() == str(tmp_path)
    assert open_process_dialog(parent) is dialog  # raised again, not a second one
    dialog.close()

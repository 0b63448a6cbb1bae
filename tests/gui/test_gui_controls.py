"""The docks, the config editor and the logs drive the rig as the operator expects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightsheet.config import dump_config, load_config

from .conftest import (
    SIZE,
    WAIT_MS,
    close_window,
    gui_rig,
    open_window,
    screenshot,
    set_mode,
    wait_new_images,
)


def line_of(text: str, key: str) -> int:
    """1-based line of the first ``key:`` in ``text``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(key))


# -- config editor ------------------------------------------------------------------------------


def test_the_config_editor_refuses_a_bad_value_showing_its_line(qtbot, window) -> None:
    editor = window.config_editor
    lines = editor.text().splitlines()
    number = line_of(editor.text(), "exposure_ms:")
    lines[number - 1] = "  exposure_ms: -3"
    editor.editor.setPlainText("\n".join(lines) + "\n")
    qtbot.waitUntil(lambda: editor.config is None, timeout=WAIT_MS)
    assert editor.error_lines() == [number]
    shown = editor.error_list.item(0).text()
    assert f":{number}: camera.exposure_ms: must be greater than or equal to 0.01" in shown
    assert not editor.apply_button.isEnabled()
    assert not editor.save(Path(window.controller.log_dir) / "bad.yaml")
    assert "line" in editor.state.text()
    assert window.controller.config.camera.exposure_ms == 2.0, "nothing reached the rig"
    window.config_dock.raise_()
    editor.error_list.itemClicked.emit(editor.error_list.item(0))  # the operator clicks it
    assert editor.editor.textCursor().blockNumber() + 1 == number
    screenshot(window, "config-editor-error")
    # Putting the value right clears the error.
    lines[number - 1] = "  exposure_ms: 3"
    editor.editor.setPlainText("\n".join(lines) + "\n")
    qtbot.waitUntil(lambda: editor.config is not None, timeout=WAIT_MS)
    assert editor.error_list.count() == 0


def test_the_editor_follows_the_docks_keeps_comments_and_applies(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    text = dump_config(gui_rig(tmp_path))
    text = text.replace("  exposure_ms:", "  # tuned for GFP\n  exposure_ms:", 1)
    path.write_text("# my rig, set up on Tuesday\n" + text)
    window = open_window(qtbot, load_config(path), tmp_path / "logs", config_path=path)
    try:
        editor = window.config_editor
        assert editor.path == path and editor.config is not None
        # A dock changes a setting: the rig takes it and the text follows, comments kept.
        window.camera_dock.exposure.setValue(3.5)
        qtbot.waitUntil(lambda: window.controller.config.camera.exposure_ms == 3.5, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "exposure_ms: 3.5" in editor.text(), timeout=WAIT_MS)
        assert editor.text().startswith("# my rig, set up on Tuesday\n")
        assert editor.save()
        saved = path.read_text()
        assert "# my rig, set up on Tuesday" in saved and "exposure_ms: 3.5" in saved
        assert "  # tuned for GFP\n  exposure_ms: 3.5\n" in saved
        assert load_config(path).camera.exposure_ms == 3.5
        # The text changes the rig: fewer planes, and the volumes the preview shows follow.
        text = editor.text().replace("n_planes: 5", "n_planes: 4", 1)
        editor.editor.setPlainText(text)
        qtbot.waitUntil(lambda: editor.config is not None, timeout=WAIT_MS)
        assert editor.apply()
        qtbot.waitUntil(lambda: window.controller.config.scanning.n_planes == 4, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: window.controller.ready, timeout=60_000)
        assert window.scanning_dock.n_planes.value() == 4
        set_mode(qtbot, window, "volumetric")
        qtbot.waitUntil(lambda: window.preview.layer.data.shape[0] == 4, timeout=WAIT_MS)
    finally:
        close_window(qtbot, window)


# -- camera, ROI, scanning ----------------------------------------------------------------------


def test_a_rectangle_drawn_in_the_viewer_becomes_the_roi(qtbot, window) -> None:
    set_mode(qtbot, window, "planar")
    wait_new_images(qtbot, window)
    layer = window.camera_dock.roi_layer
    corners = np.array([[16.2, 8.0], [16.2, 40.0], [48.0, 40.0], [48.0, 8.0]])  # (y, x)
    layer.add_rectangles([corners])
    qtbot.waitUntil(lambda: window.controller.config.camera.roi.x == 8, timeout=WAIT_MS)
    roi = window.controller.config.camera.roi
    assert (roi.x, roi.y, roi.width, roi.height) == (8, 16, 32, 32)
    assert len(layer.data) == 1, "one rectangle: the ROI"
    qtbot.waitUntil(lambda: window.preview.layer.data.shape == (1, 32, 32), timeout=60_000)
    pixel = window.controller.config.camera.pixel_size_um
    np.testing.assert_allclose(window.preview.layer.translate[1:], [16 * pixel, 8 * pixel])
    screenshot(window, "roi")
    window.camera_dock.full_button.click()
    qtbot.waitUntil(lambda: window.preview.layer.data.shape == (1, SIZE, SIZE), timeout=60_000)
    assert window.controller.config.camera.roi.width is None, "the sensor edge stays null"


def test_the_scanning_dock_plots_the_waveforms_and_refuses_what_the_board_cannot_play(
    qtbot, window
) -> None:
    dock = window.scanning_dock
    window.waveform_dock.raise_()
    plot = dock.plot
    assert plot.waveforms is not None
    assert plot.waveforms.frames_per_period == 5
    screenshot(window, "waveforms")
    dock.n_planes.setValue(6)
    qtbot.waitUntil(lambda: window.controller.config.scanning.n_planes == 6, timeout=WAIT_MS)
    assert plot.waveforms.frames_per_period == 6
    # 400 µm on a piezo of 40 µm/V is 10 V: beyond the galvo that follows it (0.02 V/µm - 2 V).
    field = dock.checked["scanning.z_end_um"]
    assert field.hint.text() == "0–350 µm", "the range in µm, never the board's volts"
    dock.z_end.setValue(400.0)
    assert plot.waveforms is None and "z_galvo" in plot.message
    qtbot.waitUntil(lambda: field.refusal is not None, timeout=WAIT_MS)
    assert field.problem.isVisible() and "0–350 µm" in field.problem.message.text()
    assert " V" not in field.problem.message.text()
    assert field.problem.fix_labels() == ["Set 350 µm"]
    assert dock.z_end.value() == 400.0, "the field keeps what the operator typed"
    assert window.controller.config.scanning.z_end_um == 20.0, "nothing was sent"
    field.problem.buttons[0].click()
    qtbot.waitUntil(lambda: window.controller.config.scanning.z_end_um == 350.0, timeout=WAIT_MS)
    assert field.refusal is None and not field.problem.isVisible()
    assert plot.waveforms is not None


def test_controls_are_locked_during_an_acquisition_and_say_why(qtbot, window) -> None:
    from lightsheet.gui.docks.base import LOCKED_TIP

    window.saving_dock.volumes.setValue(1_000_000)
    assert window.start_acquisition()
    qtbot.waitUntil(lambda: window.runner.running, timeout=WAIT_MS)
    for widget in (
        window.mode_dock.buttons["planar"],
        window.camera_dock.binning,
        window.scanning_dock.n_planes,
        window.saving_dock.run_name,
        window.trigger_dock.mode,
        window.dark_dock.acquire_button,
    ):
        assert not widget.isEnabled()
        assert widget.toolTip() == LOCKED_TIP
    assert not window.config_editor.apply_button.isEnabled()
    assert window.view_dock.contrast.isEnabled(), "how the preview looks may change any time"
    screenshot(window, "acquiring")
    window.toolbar.stop_action.trigger()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=60_000)
    assert window.camera_dock.binning.isEnabled()


# -- calibration, dark frame --------------------------------------------------------------------


def calibration_in_use(window) -> tuple[float, float]:
    calibration = window.controller.config.scanning.calibration
    return calibration.z_galvo_slope_v_per_um, calibration.z_galvo_offset_v


def test_calibration_points_are_fitted_and_saved_into_the_config(qtbot, window) -> None:
    set_mode(qtbot, window, "calibration")
    dock = window.calibration_dock
    dock.raise_()
    for piezo_um, galvo_v in ((0.0, -2.0), (10.0, -1.79), (20.0, -1.6)):
        dock.piezo.setValue(piezo_um)
        dock.galvo.setValue(galvo_v)
        dock.send_outputs()
        dock.add_button.click()
    # The set points reach the (simulated) board: the z galvo holds the last one.
    session = window.controller.session
    qtbot.waitUntil(
        lambda: session.board_outputs()["z_galvo"] == pytest.approx(-1.6), timeout=WAIT_MS
    )
    fit = dock.fit_points()
    assert fit is not None and abs(fit.slope - 0.02) < 1e-3
    assert calibration_in_use(window) == (0.02, -2.0)
    assert "R² = " in dock.fit_label.text() and "residual" in dock.fit_label.text()
    assert dock.table.rowCount() == 3 and dock.table.item(1, 2).text() != ""
    screenshot(window, "calibration-fit")
    dock.save_button.click()
    qtbot.waitUntil(
        lambda: len(window.controller.config.scanning.calibration.points) == 3, timeout=WAIT_MS
    )
    calibration = window.controller.config.scanning.calibration
    assert calibration_in_use(window) == (pytest.approx(fit.slope), pytest.approx(fit.offset))
    assert [(p.piezo_um, p.galvo_v) for p in calibration.points][1] == (10.0, -1.79)


def test_a_dark_frame_is_acquired_shown_and_subtracted(qtbot, window) -> None:
    set_mode(qtbot, window, "planar")
    dock = window.dark_dock
    dock.raise_()
    wait_new_images(qtbot, window)
    dock.frames.setValue(4)
    dock.acquire_button.click()
    qtbot.waitUntil(lambda: dock.dark is not None, timeout=WAIT_MS)
    assert dock.dark.shape == (SIZE, SIZE)
    assert "mean" in dock.summary.text()
    dock.show_box.setChecked(True)
    assert window.viewer.layers["dark frame"].visible
    assert float(np.median(window.preview.layer.data)) > 50, "raw frames: the dark offset"
    assert window.preview.layer.contrast_limits[0] > 50, "the display starts at the offset"
    dock.subtract.setChecked(True)
    # Subtracted frames sit near zero where the raw ones sat at the camera's dark offset, and
    # the automatic contrast follows them without the operator asking.
    qtbot.waitUntil(lambda: float(np.median(window.preview.layer.data)) < 50, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.preview.layer.contrast_limits[0] < 50, timeout=WAIT_MS)
    assert not dock.error_label.isVisible()


# -- saving, trigger, logs ----------------------------------------------------------------------


def test_the_saving_dock_warns_before_replacing_a_run_and_refuses_other_folders(window) -> None:
    dock = window.saving_dock
    parent = dock.parent_folder()
    (parent / "old-run").mkdir(parents=True)
    (parent / "old-run" / "metadata.json").write_text(json.dumps({"stop_reason": "completed"}))
    (parent / "photos").mkdir()
    (parent / "photos" / "cat.jpg").write_text("not a run")
    dock.run_name.setText("old-run")
    assert dock.request().replaces_run
    assert "replaces it" in dock.warning.text()
    dock.run_name.setText("photos")
    assert dock.request().refusal
    assert not window.start_acquisition()
    assert "not a lightsheet run" in window.status.currentMessage()
    dock.run_name.setText("new-run")
    assert not dock.request().replaces_run and dock.request().refusal is None


def test_the_trigger_dock_requires_a_port_for_wait(qtbot, window) -> None:
    dock = window.trigger_dock
    dock.mode.setCurrentText("wait")
    dock.apply_now()
    assert "port" in dock.error_label.text()
    assert window.controller.config.trigger.mode == "none"
    dock.port.setText("loop://")
    dock.apply_now()
    qtbot.waitUntil(lambda: window.controller.config.trigger.mode == "wait", timeout=WAIT_MS)
    assert window.controller.config.trigger.port == "loop://"


def test_the_logs_show_the_merged_timeline_filtered_by_process_and_level(qtbot, window) -> None:
    logs = window.logs
    qtbot.waitUntil(lambda: logs.process.findData("camera") >= 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: logs.process.findData("saver") >= 0, timeout=WAIT_MS)
    text = logs.visible_text()
    assert " camera " in text and " saver " in text
    logs.process.setCurrentIndex(logs.process.findData("camera"))
    lines = logs.visible_text().splitlines()
    assert lines and all(line.split(" ")[1] == "camera" for line in lines if line[:1].isdigit())
    logs.level.setCurrentText("ERROR")
    assert logs.visible_text() == ""
    logs.process.setCurrentIndex(0)
    logs.level.setCurrentText("DEBUG")
    set_mode(qtbot, window, "planar")
    qtbot.waitUntil(lambda: "planar" in logs.visible_text(), timeout=WAIT_MS)
    bar = logs.text.verticalScrollBar()
    assert bar.value() == bar.maximum(), "follow mode keeps the newest line in view"


def test_the_saving_dock_warns_when_the_planned_run_will_not_fit(qtbot, window) -> None:
    saving = window.saving_dock
    saving.by_volumes.setChecked(True)
    saving.volumes.setValue(10)
    assert "GB free" in saving.space.text() and "will not fit" not in saving.space.text()
    saving.volumes.setValue(10_000_000)  # 400 GB of 64 x 64 x 5 volumes
    assert "will not fit" in saving.space.text()

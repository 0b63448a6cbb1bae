"""What an operator meets at the microscope: refusals said at the field, an editor whose "valid"
means usable, a bug in a slot that does not take the rig down, keys, and the viewer's basics."""

from __future__ import annotations

import logging

import pytest
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QPushButton

from lightsheet.gui.viewer_overlay import scale_bar

from .conftest import (
    PLANES,
    SCREEN,
    WAIT_MS,
    gui_rig,
    gui_settings,
    open_window,
    screenshot,
    set_mode,
    wait_new_images,
)

EXPOSURE = "camera.exposure_ms"


def line_of(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(key))


def test_a_refused_exposure_is_marked_at_the_field_and_kept_until_fixed(qtbot, window) -> None:
    """5 planes at 2 volumes/s with a 10 % flyback: 90 ms per plane, the longest exposure."""
    controller, dock = window.controller, window.camera_dock
    field = dock.checked[EXPOSURE]
    assert field.hint.text() == "≤ 90 ms"
    dock.exposure.setValue(100.0)
    qtbot.waitUntil(lambda: field.refusal is not None, timeout=WAIT_MS)
    message = field.problem.message.text()
    assert "100 ms does not fit the plane period of 90 ms (5 planes at 2 volumes/s)" in message
    assert field.problem.fix_labels() == [
        "Lower the volume rate to 1.8/s",
        "Shorten the exposure to 90 ms",
    ]
    assert controller.config.camera.exposure_ms == 2.0, "nothing refused reaches the rig"
    # Another setting changes meanwhile: the field keeps what the operator typed.
    window.view_dock.colormap.setCurrentText("magma")
    window.view_dock.apply_now()
    qtbot.waitUntil(lambda: controller.config.viewer.colormap == "magma", timeout=WAIT_MS)
    assert dock.exposure.value() == 100.0 and field.refusal is not None
    screenshot(window, "refused-exposure")
    # One click on the fix: the rate drops, the exposure goes through, the mark goes.
    field.problem.buttons[0].click()
    qtbot.waitUntil(lambda: controller.config.camera.exposure_ms == 100.0, timeout=WAIT_MS)
    assert controller.config.scanning.volume_rate_hz == 1.8
    assert window.scanning_dock.volume_rate.value() == 1.8
    assert field.refusal is None and not field.problem.isVisible()
    assert field.hint.text() == "≤ 100 ms"
    # A stale refusal clears when its cause does: the rate is lowered in the Scanning dock.
    dock.exposure.setValue(150.0)
    qtbot.waitUntil(lambda: field.refusal is not None, timeout=WAIT_MS)
    window.scanning_dock.volume_rate.setValue(1.0)
    qtbot.waitUntil(lambda: controller.config.camera.exposure_ms == 150.0, timeout=WAIT_MS)
    assert field.refusal is None and controller.config.scanning.volume_rate_hz == 1.0


def test_a_mode_the_scan_cannot_play_is_refused_with_a_fix_that_switches(qtbot, window) -> None:
    """Planar takes a 100 ms exposure; volumetric at 2 volumes/s of 5 planes does not."""
    controller = window.controller
    set_mode(qtbot, window, "planar")
    window.camera_dock.exposure.setValue(100.0)
    qtbot.waitUntil(lambda: controller.config.camera.exposure_ms == 100.0, timeout=WAIT_MS)
    dock = window.mode_dock
    dock.buttons["volumetric"].click()
    assert not dock.problem.isHidden()
    assert dock.problem.message.text().startswith("volumetric refused: 100 ms does not fit")
    assert controller.mode == "planar" and dock.buttons["planar"].isChecked()
    screenshot(window, "refused-mode")
    dock.problem.buttons[0].click()  # "Lower the volume rate to 1.8/s", then volumetric
    qtbot.waitUntil(lambda: controller.mode == "volumetric", timeout=WAIT_MS)
    assert controller.config.scanning.volume_rate_hz == 1.8
    assert dock.problem.isHidden() and dock.buttons["volumetric"].isChecked()


def test_the_editor_refuses_what_the_rig_will_not_run_and_a_refused_apply_keeps_the_text(
    qtbot, window
) -> None:
    editor, controller = window.config_editor, window.controller
    window.config_dock.raise_()
    original = editor.text().splitlines()
    lines = list(original)
    number = line_of(editor.text(), "exposure_ms:")
    lines[number - 1] = "  exposure_ms: 100"
    editor.editor.setPlainText("\n".join(lines) + "\n")
    qtbot.waitUntil(lambda: editor.config is None, timeout=WAIT_MS)
    assert editor.error_lines() == [number]
    shown = editor.error_list.item(0).text()
    assert f":{number}: camera.exposure_ms: 100 ms does not fit the plane period of 90 ms" in shown
    assert not editor.apply_button.isEnabled() and not editor.save_button.isEnabled()
    screenshot(window, "config-editor-refusal")
    # What no check can foresee: a trigger port that cannot be opened. The rig refuses it.
    lines = list(original)
    trigger = line_of("\n".join(lines), "trigger:")
    mode = next(i for i in range(trigger, len(lines)) if lines[i].strip().startswith("mode:"))
    port = next(i for i in range(trigger, len(lines)) if lines[i].strip().startswith("port:"))
    lines[mode] = "  mode: wait"
    lines[port] = "  port: /dev/lightsheet-no-such-port"
    text = "\n".join(lines) + "\n"
    editor.editor.setPlainText(text)
    qtbot.waitUntil(lambda: editor.config is not None, timeout=WAIT_MS)
    assert editor.apply()
    qtbot.waitUntil(lambda: "refused" in editor.state.text(), timeout=WAIT_MS)
    assert "lightsheet-no-such-port" in editor.state.text()
    assert editor.text() == text, "a refused Apply never rewrites the operator's text"
    assert controller.config.trigger.mode == "none"


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_shown_and_the_window_survives(
    qtbot, window, caplog
) -> None:
    hook = window.exception_hook
    hook.install()
    button = QPushButton("broken")
    qtbot.addWidget(button)

    def broken() -> None:
        raise RuntimeError("a bug in a slot")

    button.clicked.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="lightsheet.gui"):
            qtbot.mouseClick(button, Qt.LeftButton)
            qtbot.waitUntil(lambda: hook.dialog is not None and hook.dialog.isVisible(),
                            timeout=WAIT_MS)  # fmt: skip
            QTimer.singleShot(0, broken)  # a timer's slot: the same dialog counts it
            qtbot.waitUntil(lambda: hook.dialog.count == 2, timeout=WAIT_MS)
        assert "RuntimeError: a bug in a slot" in hook.dialog.summary.text()
        assert "2 errors so far" in hook.dialog.summary.text()
        assert "Traceback" in hook.dialog.details.toPlainText()
        assert any("uncaught exception" in r.getMessage() and r.exc_info for r in caplog.records)
        screenshot(hook.dialog, "internal-error")
        # The window and the rig carry on.
        assert window.isVisible() and window.controller.ready
        set_mode(qtbot, window, "planar")
        wait_new_images(qtbot, window)
    finally:
        hook.uninstall()


def test_keys_switch_modes_and_start_and_stop_a_run(qtbot, window) -> None:
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key_3, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.controller.mode == "planar", timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key_4, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.controller.mode == "volumetric", timeout=WAIT_MS)
    window.saving_dock.volumes.setValue(1_000_000)
    qtbot.keyClick(window, Qt.Key_R, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.toolbar.progress.value() >= 1, timeout=WAIT_MS)
    assert not window.mode_actions["planar"].isEnabled(), "no mode change during a run"
    with qtbot.waitSignal(window.runner.finished, timeout=60_000) as finished:
        qtbot.keyClick(window, Qt.Key_Period, Qt.ControlModifier)
    assert finished.args[0].stop_reason == "stopped by the operator"
    assert window.mode_actions["planar"].isEnabled()


def test_the_viewer_shows_z_in_micrometres_the_value_under_the_cursor_and_a_histogram(
    qtbot, window
) -> None:
    set_mode(qtbot, window, "volumetric")
    wait_new_images(qtbot, window)
    layer, dims = window.preview.layer, window.viewer.dims
    assert dims.current_step[0] == PLANES // 2, "a volume opens on its middle plane"
    z = window.controller.session.z_positions_um()
    assert window.notes.z_text() == f"z {z[2]:.2f} µm · plane 3 of {PLANES}"
    assert scale_bar(window.viewer).visible
    # The readout under the cursor: position in µm, pixel and its value (same event-loop turn).
    position = tuple(layer.data_to_world((PLANES // 2, 20, 10)))
    text = window.cursor_readout.describe(position)
    value = layer.data[PLANES // 2, 20, 10]
    assert f"z {z[2]:.2f} µm" in text and "px (10, 20)" in text and f"· {value} counts" in text
    histogram = window.view_dock.histogram
    assert histogram.counts.sum() > 0
    assert histogram.limits == pytest.approx(tuple(layer.contrast_limits))
    screenshot(window, "volumetric-cursor")


def test_the_window_fits_a_laptop_screen_and_remembers_its_layout(qtbot, tmp_path) -> None:
    """No processes: the window alone, as it opens and as the operator left it."""
    window = open_window(qtbot, gui_rig(tmp_path), tmp_path / "logs", start=False)
    assert window.minimumSizeHint().height() <= SCREEN[1]
    assert (window.width(), window.height()) == SCREEN
    docks = (window.camera_dock, window.scanning_dock)
    visible = [d for d in docks if not d.visibleRegion().isEmpty()]
    assert len(visible) == 2, "camera and scan settings in view together"
    window.logs_dock.hide()
    window.trigger_dock.raise_()
    window.shutdown()
    again = open_window(qtbot, gui_rig(tmp_path), tmp_path / "logs", start=False)
    try:
        assert not again.logs_dock.isVisible()
        assert not again.trigger_dock.visibleRegion().isEmpty()
        again.layout_keeper.reset()
        qtbot.waitUntil(again.logs_dock.isVisible, timeout=WAIT_MS)
    finally:
        again.shutdown()
    assert gui_settings(tmp_path).contains("window/state")

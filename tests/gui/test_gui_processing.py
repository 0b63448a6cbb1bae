"""The processing dock: a processor chosen, tuned and watched while the preview runs; its image
results a layer of their own, a metric a live plot, a processor that raises shown with its
traceback while the preview goes on."""

from __future__ import annotations

from .conftest import WAIT_MS, close_window, screenshot, set_mode, wait_new_images


def choose(qtbot, window, name: str) -> None:
    dock = window.processing_dock
    dock.raise_()
    dock.choice.setCurrentIndex(dock.choice.findData(name))
    qtbot.waitUntil(lambda: dock.controller.session.processing.stats().state == "running",
                    timeout=WAIT_MS)  # fmt: skip


def test_a_processor_is_chosen_tuned_and_shown_beside_the_preview(qtbot, window) -> None:
    dock = window.processing_dock
    set_mode(qtbot, window, "planar")
    choose(qtbot, window, "mean")
    qtbot.waitUntil(lambda: dock.results.shown >= 3, timeout=WAIT_MS)
    layer = dock.results.layer
    assert layer is not None and layer.name == "processed" and layer.data.shape == (64, 64)
    assert window.preview.layer in window.viewer.layers  # the raw preview stays
    frames = dock.setting_widgets["frames"]
    version = window.controller.session.processing.stats().version
    frames.setValue(3)  # goes to the running copy at once
    processing = window.controller.session.processing
    qtbot.waitUntil(lambda: processing.stats().version > version, timeout=WAIT_MS)
    assert processing.processor.frames == 3
    assert "frames/s" in dock.status.text() and "own process" in dock.status.text()
    dock.multi_core.setChecked(False)  # into a thread of the main process
    qtbot.waitUntil(lambda: processing.stats().where == "thread", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: processing.stats().frames > 5, timeout=WAIT_MS)
    screenshot(window, "processing-mean")
    choose(qtbot, window, "focus")
    qtbot.waitUntil(lambda: len(dock.plot.values) >= 5, timeout=WAIT_MS)
    assert dock.plot.isVisible() and all(v > 0 for v in dock.plot.values)
    screenshot(window, "processing-focus")
    close_window(qtbot, window)


def test_a_raising_processor_shows_its_traceback_and_the_preview_goes_on(qtbot, window) -> None:
    dock = window.processing_dock
    set_mode(qtbot, window, "planar")
    dock.raise_()
    dock.choice.setCurrentIndex(dock.choice.findData("custom"))
    dock.custom.setText("tests.live.helpers:Fragile")
    dock.load.click()
    qtbot.waitUntil(lambda: "fragile gave up" in dock.error_label.text(), timeout=WAIT_MS)
    assert dock.details.isVisible() and "ZeroDivisionError" in dock.traceback
    assert "fail_at" in dock.setting_widgets
    qtbot.waitUntil(lambda: "switched off" in dock.status.text(), timeout=WAIT_MS)
    wait_new_images(qtbot, window)  # the preview goes on
    assert window.controller.session.fault is None
    close_window(qtbot, window)

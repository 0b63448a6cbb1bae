"""The operator's window on a simulated rig: modes, preview, acquisition, status, shutdown."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lightsheet.analysis import PLOT_SIZE_PX
from lightsheet.gui.controller import MODES
from lightsheet.gui.docks.base import LOCKED_TIP

from .conftest import PLANES, SIZE, WAIT_MS, close_window, screenshot, set_mode, wait_new_images


def test_title_names_the_rig(qtbot, window) -> None:
    assert window.windowTitle() == "lightsheet — test-rig"
    assert window.centralWidget() is window.qt_viewer
    # The status bar reads the processes' states on its timer, at most REFRESH_MS after ready.
    qtbot.waitUntil(
        lambda: set(window.status.lights) >= {"camera", "dispatcher", "saver"}, timeout=WAIT_MS
    )


def test_every_mode_previews_and_is_screenshotted(qtbot, window) -> None:
    expected = {"calibration": (1, SIZE, SIZE), "planar": (1, SIZE, SIZE)}
    expected["volumetric"] = (PLANES, SIZE, SIZE)
    preview_layers = {id(window.preview.layer)}
    for mode in ("calibration", "planar", "volumetric", "paused"):
        set_mode(qtbot, window, mode)
        assert window.mode_dock.buttons[mode].isChecked()
        if mode != "paused":
            wait_new_images(qtbot, window)
            assert window.preview.layer.data.shape == expected[mode]
        preview_layers.add(id(window.viewer.layers["preview"]))
        qtbot.wait(50)  # let the canvas paint the image before the grab
        screenshot(window, mode)
    assert len(preview_layers) == 1, "the preview layer is updated in place, never re-created"
    assert set(MODES) == {"paused", "calibration", "planar", "volumetric"}


def test_volumetric_preview_has_the_voxel_scale_projection_and_3d(qtbot, window) -> None:
    set_mode(qtbot, window, "volumetric")
    wait_new_images(qtbot, window)
    z = window.controller.session.z_positions_um()
    pixel = window.controller.config.camera.pixel_size_um
    np.testing.assert_allclose(window.preview.layer.scale, [abs(z[1] - z[0]), pixel, pixel])
    window.view_dock.max_projection.setChecked(True)
    assert window.preview.layer.projection_mode == "max"
    assert window.viewer.dims.thickness[0] >= PLANES * window.preview.layer.scale[0]
    window.view_dock.three_d.setChecked(True)
    assert window.viewer.dims.ndisplay == 3
    wait_new_images(qtbot, window)
    screenshot(window, "volumetric-3d")
    window.view_dock.three_d.setChecked(False)
    window.view_dock.max_projection.setChecked(False)
    assert window.viewer.dims.ndisplay == 2


def test_contrast_auto_continuous_and_manual(qtbot, window) -> None:
    set_mode(qtbot, window, "planar")
    wait_new_images(qtbot, window)
    view = window.view_dock
    view.contrast.setCurrentIndex(view.contrast.findData("manual"))
    view.low.setValue(10)
    view.high.setValue(20)
    qtbot.waitUntil(
        lambda: window.controller.config.viewer.contrast_limits == (10, 20), timeout=WAIT_MS
    )
    wait_new_images(qtbot, window)
    assert tuple(window.preview.layer.contrast_limits) == (10, 20)
    view.contrast.setCurrentIndex(view.contrast.findData("auto"))
    qtbot.waitUntil(lambda: window.controller.config.viewer.contrast == "auto", timeout=WAIT_MS)
    wait_new_images(qtbot, window)
    assert tuple(window.preview.layer.contrast_limits) != (10, 20)


def test_three_volumes_reach_the_disk_with_zero_drops(qtbot, window) -> None:
    set_mode(qtbot, window, "volumetric")
    saving = window.saving_dock
    saving.by_volumes.setChecked(True)
    saving.volumes.setValue(3)
    folder = saving.run_folder()
    # Listening before the start: a three-volume run may finish before the checks below end.
    with qtbot.waitSignal(window.runner.finished, timeout=60_000) as finished:
        assert window.start_acquisition()
        qtbot.waitUntil(lambda: window.runner.running, timeout=WAIT_MS)
        assert not window.camera_dock.exposure.isEnabled()
        assert window.camera_dock.exposure.toolTip() == LOCKED_TIP
    outcome = finished.args[0]
    assert outcome.status == "completed", outcome
    with h5py.File(folder / "dataset.h5", "r") as f:
        assert f["data"].shape == (3, PLANES, SIZE, SIZE)
        assert f["frames"]["present"][:].all()
    assert (folder / "logs" / "camera.log").exists()
    assert window.toolbar.progress.text() == "completed: 3 of 3 saved on disk"
    assert window.camera_dock.exposure.isEnabled()
    assert (folder.name, saving.run_name.text()) == ("run-001", "run-002"), "the name increments"
    # The timing verdict of the run, as its metadata says, and the plot a click away.
    summary = window.run_summary
    timing = json.loads((folder / "metadata.json").read_text())["timing"]
    assert summary.in_sync == timing["in_sync"]
    assert timing["summary"] in summary.verdict.text()
    assert summary.plot_button.isEnabled() and summary.details_button.isEnabled()
    with qtbot.waitSignal(summary.plotted, timeout=60_000) as plotted:
        summary.plot_button.click()
    assert plotted.args[0] == folder / "timing.png"
    dialog = summary.dialogs[-1]
    assert (dialog.pixmap.width(), dialog.pixmap.height()) == PLOT_SIZE_PX
    summary.details_button.click()
    assert "intervals:" in summary.dialogs[-1].text.toPlainText()
    screenshot(dialog, "timing-plot")
    summary.close_dialogs()
    # File → Open run: the saved run as a (t, z, y, x) layer above the live preview.
    assert window.recent_runs.paths()[0] == folder.resolve()
    assert window.open_run(folder)
    (layer,) = window.run_layers.layers
    assert layer.data.shape == (3, PLANES, SIZE, SIZE) and layer.name == folder.name
    assert window.viewer.dims.axis_labels == ("t", "z", "y", "x")
    screenshot(window, "opened-run")
    window.run_layers.close_all()
    assert layer not in window.viewer.layers
    assert window.viewer.dims.axis_labels == ("z", "y", "x")
    # The status bar is current: a frame rate, and no drop.
    qtbot.waitUntil(lambda: window.status.values.get("frame_rate_hz", 0) > 0, timeout=WAIT_MS)
    assert window.status.values["frames_dropped"] == 0
    assert "dropped 0" in window.status.dropped.text()
    assert "fps" in window.status.frame_rate.text()
    assert window.status.disk.text().startswith("free ")


@pytest.mark.parametrize("rig", [{"camera": {"simulated": {"drop_frame_ids": [7]}}}], indirect=True)
def test_a_run_from_the_volumetric_preview_reports_its_own_counts(qtbot, window) -> None:
    """The preview restarts as soon as the run ends: none of its frames may count for the run."""
    set_mode(qtbot, window, "volumetric")
    saving = window.saving_dock
    saving.by_volumes.setChecked(True)
    saving.volumes.setValue(4)
    folder = saving.run_folder()
    with qtbot.waitSignal(window.runner.finished, timeout=60_000) as finished:
        assert window.start_acquisition()
    outcome = finished.args[0]
    assert outcome.status == "dropped", outcome
    metadata = json.loads((folder / "metadata.json").read_text())
    assert (metadata["frames_acquired"], metadata["frames_missing"]) == (20, 1)
    assert metadata["stop_reason"] == "completed"


def start_long_run(qtbot, window) -> list:
    """A run far longer than the test; returns the progress readings as they come."""
    readings: list = []
    window.runner.progressed.connect(readings.append)
    set_mode(qtbot, window, "volumetric")
    window.saving_dock.volumes.setValue(1_000_000)
    assert window.start_acquisition()
    qtbot.waitUntil(lambda: bool(readings) and readings[-1].volumes_saved >= 3, timeout=WAIT_MS)
    return readings


def volumes_on_disk(folder) -> int:
    try:
        with h5py.File(folder / "dataset.h5", "r") as f:
            return int(f["data"].shape[0])
    except FileNotFoundError:
        return 0


def test_a_killed_saver_shows_the_volumes_on_disk_not_the_volumes_acquired(
    qtbot, window
) -> None:
    import os
    import signal

    folder = window.saving_dock.run_folder()
    readings = start_long_run(qtbot, window)
    with qtbot.waitSignal(window.runner.finished, timeout=60_000) as finished:
        os.kill(window.controller.session.process_pids()["saver"], signal.SIGKILL)
    outcome = finished.args[0]
    assert outcome.status == "fault" and "saver" in outcome.stop_reason
    assert all(r.volumes_saved <= r.frames_acquired // PLANES for r in readings)
    on_disk = volumes_on_disk(folder)
    assert outcome.volumes_saved == on_disk
    assert window.toolbar.progress.text() == f"fault: {on_disk} of 1000000 saved on disk"
    assert f"{on_disk} volume(s) saved" in window.run_summary.title.text()
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["volumes_saved"] == on_disk
    screenshot(window, "saver-fault")


def test_a_killed_saver_loses_at_most_the_volume_being_written(qtbot, window) -> None:
    import os
    import signal

    folder = window.saving_dock.run_folder()
    readings = start_long_run(qtbot, window)
    with qtbot.waitSignal(window.runner.finished, timeout=60_000):
        os.kill(window.controller.session.process_pids()["saver"], signal.SIGKILL)
    written = max(r.volumes_saved for r in readings)
    assert volumes_on_disk(folder) >= written - 1


def test_a_killed_camera_leaves_nothing_live_looking_and_a_restart_restores_the_mode(
    qtbot, window
) -> None:
    import os
    import signal

    from lightsheet.gui.status_bar import COLOURS

    set_mode(qtbot, window, "volumetric")
    wait_new_images(qtbot, window)
    qtbot.waitUntil(lambda: window.status.values.get("frame_rate_hz", 0) > 0, timeout=WAIT_MS)
    # The saver's share of time spent writing is shown beside its throughput.
    assert 0 <= window.status.values["saver_busy"] <= 1
    assert "MB/s, writing" in window.status.saver.text()
    os.kill(window.controller.session.process_pids()["camera"], signal.SIGKILL)
    qtbot.waitUntil(lambda: len(window.fault_dialogs) > 0, timeout=WAIT_MS)
    dialog = window.fault_dialogs[-1]
    assert dialog.isVisible() and not dialog.isModal()
    assert dialog.fault.process == "camera"
    assert "SIGKILL" in dialog.cause.text()
    # The dialog opens on the fault's own line, in view, not on whatever was logged last.
    records = dialog.lines.toPlainText()
    assert dialog.fault_index is not None
    line = dialog.lines.textCursor().block().text()
    assert "camera" in line and ("fault: camera" in line or " camera " in line), line
    assert dialog.lines.viewport().rect().contains(dialog.lines.cursorRect().center())
    assert "camera" in records
    light = window.status.lights["camera"]
    qtbot.waitUntil(lambda: light.state.startswith("died"), timeout=WAIT_MS)
    assert COLOURS["died"] in light.text() and "SIGKILL" in light.toolTip()
    # Nothing looks live: no rate, no counters, no mode, the image dimmed and marked.
    assert window.status.values == {}
    assert window.status.frame_rate.text() == "stopped"
    assert "SIGKILL" in window.status.frame_rate.toolTip()
    assert not any(b.isChecked() for b in window.mode_dock.buttons.values())
    assert "Stopped: the camera process" in window.mode_dock.description.text()
    assert window.preview.layer.opacity < 1
    assert "stopped: the camera process" in window.notes.stale
    screenshot(window, "fault")
    screenshot(dialog, "fault-dialog")
    assert not window.toolbar.start_action.isEnabled()
    # The restart brings the operator's mode back and clears the old error.
    dialog.restart_button.click()
    qtbot.waitUntil(lambda: window.controller.ready, timeout=60_000)
    qtbot.waitUntil(lambda: window.controller.mode == "volumetric", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: light.state == "running", timeout=WAIT_MS)
    assert window.mode_dock.buttons["volumetric"].isChecked()
    assert not window.mode_dock.description.isVisible()
    wait_new_images(qtbot, window)
    assert window.preview.layer.opacity == 1 and window.notes.stale is None
    assert "SIGKILL" not in window.toolbar.message.text()
    assert window.fault_dialogs == []
    qtbot.waitUntil(lambda: window.status.values.get("frame_rate_hz", 0) > 0, timeout=WAIT_MS)
    assert window.toolbar.start_action.isEnabled()


def test_closing_leaves_no_process_and_no_shared_memory(qtbot, window) -> None:
    set_mode(qtbot, window, "volumetric")
    wait_new_images(qtbot, window)
    close_window(qtbot, window)


def test_closing_during_an_acquisition_saves_what_was_acquired(qtbot, window) -> None:
    import json

    set_mode(qtbot, window, "volumetric")
    window.saving_dock.volumes.setValue(1_000_000)
    folder = window.saving_dock.run_folder()
    assert window.start_acquisition()
    qtbot.waitUntil(lambda: window.toolbar.progress.value() >= 2, timeout=WAIT_MS)
    window.request_close()
    close_window(qtbot, window)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["stop_reason"] == "window closed"
    assert metadata["volumes_saved"] >= 2
    with h5py.File(folder / "dataset.h5", "r") as f:
        assert f["data"].shape[0] == metadata["volumes_saved"]


@pytest.mark.parametrize("signum_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_close_cleanly(qtbot, window, signum_name: str) -> None:
    import os
    import signal

    from lightsheet.gui.app import SignalCloser

    closer = SignalCloser(window)
    closer.install()
    try:
        os.kill(os.getpid(), getattr(signal, signum_name))
        qtbot.waitUntil(lambda: window._shut_down, timeout=WAIT_MS)
    finally:
        closer.uninstall()
    assert window.interrupted
    close_window(qtbot, window)

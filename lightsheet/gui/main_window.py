"""The operator's window: the napari preview at the centre, controls around it.

It only assembles the parts and routes their signals: the controller (Session), the preview
updater, the acquisition runner, the docks, the status bar, the logs and the config editor.
Closing it — by the window's button, Ctrl-C or SIGTERM — ends a running acquisition with its
data saved and stops every process before the window goes.

What it shows is what is true: after a process died the counters, the mode and the progress say
"stopped" and the last image is dimmed and marked as old; a restart brings back the operator's
mode and clears the old error. A run's end shows what its files hold and its timing verdict.
"""

from __future__ import annotations

import logging
from pathlib import Path

from napari.components import ViewerModel
from napari.qt import QtViewer
from qtpy.QtCore import QSettings, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QWidget

from lightsheet.app.acquisition import Outcome
from lightsheet.app.run_folder import RunFolderError
from lightsheet.config import RigConfig
from lightsheet.gui.acquisition_runner import AcquisitionRunner
from lightsheet.gui.config_editor import ConfigEditor
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.calibration import CalibrationDock
from lightsheet.gui.docks.camera import CameraDock
from lightsheet.gui.docks.dark import DarkDock
from lightsheet.gui.docks.mode import ModeDock
from lightsheet.gui.docks.processing import ProcessingDock
from lightsheet.gui.docks.saving import SavingDock
from lightsheet.gui.docks.scanning import ScanningDock
from lightsheet.gui.docks.trigger import TriggerDock
from lightsheet.gui.docks.view import ViewDock
from lightsheet.gui.exception_hook import ExceptionHook
from lightsheet.gui.fault_dialog import FaultDialog
from lightsheet.gui.layout import WindowLayout, fit_to_screen
from lightsheet.gui.logs_view import LogsView
from lightsheet.gui.menus import build_menus
from lightsheet.gui.napari_prefs import register_reader_preferences
from lightsheet.gui.preview import PreviewUpdater
from lightsheet.gui.run_layers import RecentRuns, RunLayers
from lightsheet.gui.run_summary import RunSummary
from lightsheet.gui.status_bar import StatusBar
from lightsheet.gui.toolbar import AcquisitionToolbar
from lightsheet.gui.viewer_overlay import CanvasNotes, CursorReadout
from lightsheet.runtime.supervisor import Fault

log = logging.getLogger("lightsheet.gui")

ERROR_COLOUR = "#d62728"


def window_title(config: RigConfig) -> str:
    return f"lightsheet — {config.name}"


class MainWindow(QMainWindow):
    """Preview, docks, toolbar, status bar; owns the shutdown order."""

    def __init__(
        self,
        controller: SessionController,
        config_path: Path | None = None,
        parent: QWidget | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self.interrupted = False
        self.confirm_close = True  # ask before closing during a run (tests turn it off)
        self._force_close = False
        self._shut_down = False
        self._run_target = 0
        self.fault_dialogs: list[FaultDialog] = []
        self.setWindowTitle(window_title(controller.config))
        fit_to_screen(self)
        self._build_centre()
        self._build_docks(config_path)
        self.layout_keeper = WindowLayout(self, settings)
        self._arrange_docks()
        build_menus(self)
        self._fit_on_show = not self.layout_keeper.restore()
        self.exception_hook = ExceptionHook(self)
        self.status.set_disk_path(self.saving_dock.parent_folder())
        # The ROI layer is drawn over the preview but the preview stays the selected layer.
        self.viewer.layers.selection.active = self.preview.layer
        self._connect()
        self._update_start()

    # -- building -----------------------------------------------------------------------------

    def _build_centre(self) -> None:
        controller = self.controller
        self.viewer = ViewerModel(title=window_title(controller.config))
        self.qt_viewer = QtViewer(self.viewer)
        self.setCentralWidget(self.qt_viewer)
        self.preview = PreviewUpdater(self.viewer, controller, self.qt_viewer.canvas.native, self)
        self.notes = CanvasNotes(self.viewer, self.preview.layer)
        self.run_layers = RunLayers(self.viewer)
        self.recent_runs = RecentRuns(self.settings)
        self.runner = AcquisitionRunner(controller, self)
        self.toolbar = AcquisitionToolbar(self)
        self.addToolBar(self.toolbar)
        self.status = StatusBar(controller, self)
        self.cursor_readout = CursorReadout(self.viewer)
        self.status.addWidget(self.cursor_readout, 1)
        self.setStatusBar(self.status)

    def _build_docks(self, config_path: Path | None) -> None:
        controller = self.controller
        self.mode_dock = ModeDock(controller, self)
        self.camera_dock = CameraDock(controller, self.viewer, self)
        self.scanning_dock = ScanningDock(controller, self)
        self.calibration_dock = CalibrationDock(controller, self)
        self.dark_dock = DarkDock(controller, self.viewer, self)
        self.saving_dock = SavingDock(controller, self)
        self.run_summary = RunSummary()
        self.saving_dock.add_widget(self.run_summary)
        self.trigger_dock = TriggerDock(controller, self)
        self.view_dock = ViewDock(controller, self.preview, self)
        self.waveform_dock = self._wrap("Waveforms", self.scanning_dock.plot)
        self.processing_dock = ProcessingDock(controller, self.viewer, self)
        self.logs = LogsView(controller.log_dir)
        self.logs_dock = self._wrap("Logs", self.logs)
        self.config_editor = ConfigEditor(controller, config_path)
        self.config_dock = self._wrap("Config", self.config_editor)

    def _arrange_docks(self) -> None:
        self.layout_keeper.arrange(
            left=[[self.mode_dock], [self.camera_dock], [self.scanning_dock]],
            right=[[self.saving_dock], [self.view_dock, self.waveform_dock, self.trigger_dock,
                                        self.calibration_dock, self.dark_dock,
                                        self.processing_dock]],
            bottom=[self.logs_dock, self.config_dock],
        )  # fmt: skip
        self.layout_keeper.follow_editor(self.config_dock, self.logs_dock)

    def _wrap(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower() + "_dock")
        dock.setWidget(widget)
        return dock

    def docks(self) -> list[QDockWidget]:
        return [
            self.mode_dock, self.camera_dock, self.scanning_dock, self.calibration_dock,
            self.dark_dock, self.saving_dock, self.view_dock, self.waveform_dock,
            self.trigger_dock, self.processing_dock, self.logs_dock, self.config_dock,
        ]  # fmt: skip

    def _connect(self) -> None:
        controller = self.controller
        controller.config_changed.connect(self._on_config)
        controller.error.connect(self._show_error)
        controller.fault.connect(self.show_fault)
        controller.recovered.connect(self._on_recovered)
        controller.busy_changed.connect(self._update_start)
        controller.started.connect(self._update_start)
        controller.mode_changed.connect(self._on_mode)
        controller.acquisition_changed.connect(self._on_acquisition)
        self.toolbar.start_requested.connect(self.start_acquisition)
        self.toolbar.stop_requested.connect(lambda: self.runner.stop())
        self.runner.started.connect(self._on_run_started)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.failed.connect(lambda text: self._show_error(f"not started: {text}"))
        self.saving_dock.folder_changed.connect(self.status.set_disk_path)
        self.preview.image_shown.connect(self._on_image)
        # One image may still be from before the switch: the contrast is set from the next.
        self.dark_dock.subtraction_changed.connect(lambda _: self.preview.request_auto_contrast(1))

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the processes, the preview and the log reader."""
        self.controller.start()
        self.preview.start()
        self.logs.start()
        register_reader_preferences([self.saving_dock.parent_folder()])

    def showEvent(self, event: object) -> None:
        super().showEvent(event)
        if self._fit_on_show:  # the docks have their sizes only once the window is shown
            self._fit_on_show = False
            QTimer.singleShot(0, self.layout_keeper.fit_columns)

    def request_close(self, interrupted: bool = False) -> None:
        """Close without asking (Ctrl-C, SIGTERM): a running acquisition is stopped and saved."""
        self.interrupted = self.interrupted or interrupted
        self._force_close = True
        self.close()

    def closeEvent(self, event: object) -> None:
        if self._shut_down:
            event.accept()
            return
        if self.runner.running and self.confirm_close and not self._force_close:
            answer = QMessageBox.question(
                self,
                "Acquisition running",
                "An acquisition is running. Stop it (frames so far are saved) and quit?",
            )
            if answer != QMessageBox.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop timers, finish a running run, stop every process. Safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        log.info("closing the window: stopping every process")
        self.layout_keeper.save()
        self.preview.stop()
        self.status.stop()
        self.logs.stop()
        reason = "interrupted" if self.interrupted else "window closed"
        self.runner.finish_now(reason)
        self.controller.close()
        self.run_summary.shutdown()
        for dialog in self.fault_dialogs:
            dialog.close()
        self.exception_hook.uninstall()
        self.qt_viewer.close()

    # -- acquisition --------------------------------------------------------------------------

    def start_acquisition(self) -> bool:
        """Start a run as the Saving dock describes it; False (with the reason) if refused."""
        request = self.saving_dock.request()
        if request.refusal:
            self._show_error(request.refusal)
            return False
        if request.replaces_run and not self._confirm_replace(request.folder):
            return False
        self._run_target = request.volumes or 0
        self.toolbar.reset(self._run_target)
        try:
            self.runner.start(
                request.folder, request.volumes, request.duration_s, overwrite=request.replaces_run
            )
        except (RunFolderError, RuntimeError) as exc:
            self._show_error(str(exc))
            return False
        self.toolbar.show_message(f"starting a run in {request.folder}")
        return True

    def _confirm_replace(self, folder: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace the run?", f"{folder} already holds a run. Replace it?"
        )
        return answer == QMessageBox.Yes

    def _on_run_started(self, folder: Path) -> None:
        self.toolbar.show_message(f"acquiring ({self.controller.session.scan_mode}) into {folder}")

    def _on_progress(self, progress: object) -> None:
        self._run_target = getattr(progress, "volumes_target", self._run_target)
        self.toolbar.show_progress(progress)

    def _on_run_finished(self, outcome: Outcome) -> None:
        self.toolbar.show_outcome(outcome, self._run_target)
        self.toolbar.show_message(f"{outcome.stop_reason}: {outcome.folder}")
        self.run_summary.show_outcome(outcome)
        self.saving_dock.advance_run_name()
        self.recent_runs.add(outcome.folder)

    def _on_acquisition(self, running: bool) -> None:
        self.toolbar.set_running(running)
        if self.controller.session.fault is None:
            if running:  # the run's volumes are live, whatever the operator's mode
                self.notes.set_stale(None)
            else:
                self._on_mode(self.controller.mode)
        for action in getattr(self, "mode_actions", {}).values():
            action.setEnabled(not running)
        self._update_start()

    def _update_start(self, *_: object) -> None:
        controller = self.controller
        if controller.session.fault is not None:
            self.toolbar.set_start_allowed(False, "A process died: restart the processes first")
        elif controller.busy:
            self.toolbar.set_start_allowed(False, "Processes are starting or being reconfigured")
        else:
            self.toolbar.set_start_allowed(True)

    # -- saved runs ---------------------------------------------------------------------------

    def open_run(self, path: Path) -> bool:
        """Show a saved run as a layer above the live preview; False (with why) if it is not one."""
        try:
            self.run_layers.open(path)
        except (ValueError, OSError) as exc:
            self._show_error(f"cannot open {path}: {exc}")
            return False
        self.recent_runs.add(path if Path(path).is_dir() else Path(path).parent)
        register_reader_preferences([Path(path).parent])
        return True

    def open_config(self) -> None:
        self.config_dock.show()
        self.config_dock.raise_()
        self.config_editor.choose_file()

    # -- faults and messages ------------------------------------------------------------------

    def show_fault(self, fault: Fault) -> FaultDialog:
        """Everything says "stopped", and a non-modal dialog gives the cause and the log lines."""
        self.status.refresh()
        self._update_start()
        self.preview.set_stale(True)
        self.notes.set_stale(f"stopped: the {fault.process} process {fault.reason}", fault=True)
        if self.runner.running:
            self.toolbar.show_stopped(f"the {fault.process} process {fault.reason}")
        dialog = FaultDialog(fault, self.controller.log_dir, self)
        dialog.restart_requested.connect(self.controller.restart)
        self.fault_dialogs.append(dialog)
        dialog.show()
        self._show_error(f"the {fault.process} process {fault.reason}")
        return dialog

    def _on_recovered(self) -> None:
        """A restart after a fault worked: the fault's messages no longer hold."""
        self.toolbar.show_message("processes restarted")
        self.status.clearMessage()
        for dialog in self.fault_dialogs:
            dialog.close()
        self.fault_dialogs.clear()
        self.notes.set_stale("restarted, waiting for a new image")

    def _on_mode(self, mode: str) -> None:
        self._clear_error()
        if mode == "paused" and self.controller.session.fault is None:
            self.notes.set_stale("paused")

    def _on_image(self, _seq: int) -> None:
        if self.notes.stale is not None:
            self.notes.set_stale(None)

    def _show_error(self, text: str) -> None:
        self.toolbar.show_message(f"<span style='color:{ERROR_COLOUR}'>{text}</span>")
        self.status.showMessage(text, 10000)
        self._error_state = (self.controller.config, self.controller.mode)

    def _clear_error(self) -> None:
        """An error's message goes once the rig has moved on (another config or mode took)."""
        state = getattr(self, "_error_state", None)
        now = (self.controller.config, self.controller.mode)
        if state is not None and state != now and self.controller.session.fault is None:
            self._error_state = None
            self.toolbar.show_message("")
            self.status.clearMessage()

    def _on_config(self, config: RigConfig) -> None:
        self.setWindowTitle(window_title(config))
        self._clear_error()

"""The operator's window: the napari preview at the centre, controls around it.

It only assembles the parts and routes their signals: the controller (Session), the preview
updater, the acquisition runner, the docks, the status bar, the logs and the config editor.
Closing it — by the window's button, Ctrl-C or SIGTERM — ends a running acquisition with its
data saved and stops every process before the window goes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from napari.components import ViewerModel
from napari.qt import QtViewer
from qtpy.QtCore import Qt
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
from lightsheet.gui.fault_dialog import FaultDialog
from lightsheet.gui.logs_view import LogsView
from lightsheet.gui.preview import PreviewUpdater
from lightsheet.gui.process_dialog import open_process_dialog
from lightsheet.gui.status_bar import StatusBar
from lightsheet.gui.toolbar import AcquisitionToolbar
from lightsheet.runtime.supervisor import Fault

log = logging.getLogger("lightsheet.gui")

WINDOW_SIZE = (1560, 960)


def window_title(config: RigConfig) -> str:
    return f"lightsheet — {config.name}"


class MainWindow(QMainWindow):
    """Preview, docks, toolbar, status bar; owns the shutdown order."""

    def __init__(
        self,
        controller: SessionController,
        config_path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.interrupted = False
        self._force_close = False
        self._shut_down = False
        self.fault_dialogs: list[FaultDialog] = []
        self.setWindowTitle(window_title(controller.config))
        self.resize(*WINDOW_SIZE)

        self.viewer = ViewerModel(title=window_title(controller.config))
        self.qt_viewer = QtViewer(self.viewer)
        self.setCentralWidget(self.qt_viewer)
        self.preview = PreviewUpdater(self.viewer, controller, self.qt_viewer.canvas.native, self)
        self.runner = AcquisitionRunner(controller, self)

        self.toolbar = AcquisitionToolbar(self)
        self.addToolBar(Qt.TopToolBarArea, self.toolbar)
        self.status = StatusBar(controller, self)
        self.setStatusBar(self.status)

        self.mode_dock = ModeDock(controller, self)
        self.camera_dock = CameraDock(controller, self.viewer, self)
        self.scanning_dock = ScanningDock(controller, self)
        self.calibration_dock = CalibrationDock(controller, self)
        self.dark_dock = DarkDock(controller, self.viewer, self)
        self.saving_dock = SavingDock(controller, self)
        self.trigger_dock = TriggerDock(controller, self)
        self.view_dock = ViewDock(controller, self.preview, self)
        self.processing_dock = ProcessingDock(controller, self.viewer, self)
        self.logs = LogsView(controller.log_dir)
        self.logs_dock = self._wrap("Logs", self.logs)
        self.config_editor = ConfigEditor(controller, config_path)
        self.config_dock = self._wrap("Config", self.config_editor)
        self._arrange_docks()
        self._build_menus()
        self.status.set_disk_path(self.saving_dock.parent_folder())
        # The ROI layer is drawn over the preview but the preview stays the selected layer.
        self.viewer.layers.selection.active = self.preview.layer

        controller.config_changed.connect(self._on_config)
        controller.error.connect(self._show_error)
        controller.fault.connect(self.show_fault)
        controller.busy_changed.connect(self._update_start)
        controller.started.connect(self._update_start)
        controller.acquisition_changed.connect(self._on_acquisition)
        self.toolbar.start_requested.connect(self.start_acquisition)
        self.toolbar.stop_requested.connect(lambda: self.runner.stop())
        self.runner.started.connect(self._on_run_started)
        self.runner.progressed.connect(self.toolbar.show_progress)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.failed.connect(lambda text: self._show_error(f"not started: {text}"))
        self.saving_dock.folder_changed.connect(self.status.set_disk_path)
        self._update_start()

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the processes, the preview and the log reader."""
        self.controller.start()
        self.preview.start()
        self.logs.start()

    def request_close(self, interrupted: bool = False) -> None:
        """Close without asking (Ctrl-C, SIGTERM): a running acquisition is stopped and saved."""
        self.interrupted = self.interrupted or interrupted
        self._force_close = True
        self.close()

    def closeEvent(self, event: object) -> None:
        if self._shut_down:
            event.accept()
            return
        if self.runner.running and not self._force_close:
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
        self.preview.stop()
        self.status.stop()
        self.logs.stop()
        reason = "interrupted" if self.interrupted else "window closed"
        self.runner.finish_now(reason)
        self.controller.close()
        for dialog in self.fault_dialogs:
            dialog.close()
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
        self.toolbar.reset(request.volumes or 0)
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
        session = self.controller.session
        scan = getattr(session, "scan_mode", session.config.scanning.mode)
        self.toolbar.show_message(f"acquiring ({scan}) into {folder}")

    def _on_run_finished(self, outcome: Outcome) -> None:
        self.toolbar.show_message(
            f"{outcome.status}: {outcome.volumes_saved} volume(s) in {outcome.folder}"
            + (f", {outcome.frames_dropped} dropped" if outcome.frames_dropped else "")
        )
        self.saving_dock.advance_run_name()

    def _on_acquisition(self, running: bool) -> None:
        self.toolbar.set_running(running)
        self._update_start()

    def _update_start(self, *_: object) -> None:
        controller = self.controller
        if controller.session.fault is not None:
            self.toolbar.set_start_allowed(False, "A process died: restart the processes first")
        elif controller.busy:
            self.toolbar.set_start_allowed(False, "Processes are starting or being reconfigured")
        else:
            self.toolbar.set_start_allowed(True)

    # -- faults and messages ------------------------------------------------------------------

    def show_fault(self, fault: Fault) -> FaultDialog:
        """Non-modal dialog with the cause and the log lines around it."""
        self.status.refresh()
        self._update_start()
        dialog = FaultDialog(fault, self.controller.log_dir, self)
        dialog.restart_requested.connect(self.controller.restart)
        self.fault_dialogs.append(dialog)
        dialog.show()
        self.toolbar.show_message(f"{fault.process} {fault.reason}")
        return dialog

    def _show_error(self, text: str) -> None:
        self.toolbar.show_message(f"<span style='color:#d62728'>{text}</span>")
        self.status.showMessage(text, 10000)

    def _on_config(self, config: RigConfig) -> None:
        self.setWindowTitle(window_title(config))

    # -- layout -------------------------------------------------------------------------------

    def _wrap(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower() + "_dock")
        dock.setWidget(widget)
        return dock

    def _arrange_docks(self) -> None:
        left = Qt.LeftDockWidgetArea
        right = Qt.RightDockWidgetArea
        self.addDockWidget(left, self.mode_dock)
        self.addDockWidget(left, self.camera_dock)
        for dock in (self.scanning_dock, self.calibration_dock, self.dark_dock):
            self.addDockWidget(left, dock)
            self.tabifyDockWidget(self.camera_dock, dock)
        self.camera_dock.raise_()
        self.addDockWidget(right, self.saving_dock)
        self.addDockWidget(right, self.view_dock)
        self.addDockWidget(right, self.trigger_dock)
        self.tabifyDockWidget(self.view_dock, self.trigger_dock)
        self.addDockWidget(right, self.processing_dock)
        self.tabifyDockWidget(self.view_dock, self.processing_dock)
        self.view_dock.raise_()
        self.addDockWidget(Qt.BottomDockWidgetArea, self.logs_dock)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.config_dock)
        self.tabifyDockWidget(self.logs_dock, self.config_dock)
        self.logs_dock.raise_()
        self.resizeDocks([self.mode_dock, self.saving_dock], [330, 330], Qt.Horizontal)
        self.resizeDocks([self.logs_dock], [230], Qt.Vertical)

    def docks(self) -> list[QDockWidget]:
        return [
            self.mode_dock,
            self.camera_dock,
            self.scanning_dock,
            self.calibration_dock,
            self.dark_dock,
            self.saving_dock,
            self.view_dock,
            self.trigger_dock,
            self.processing_dock,
            self.logs_dock,
            self.config_dock,
        ]

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction("Open config…", self._open_config)
        file_menu.addAction("Save config", lambda: self.config_editor.save())
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit", self.close)
        quit_action.setShortcut("Ctrl+Q")
        rig_menu = bar.addMenu("&Rig")
        rig_menu.addAction("Restart processes", self.controller.restart)
        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction("Process a saved run…", lambda: open_process_dialog(self))
        view_menu = bar.addMenu("&View")
        for dock in self.docks():
            view_menu.addAction(dock.toggleViewAction())

    def _open_config(self) -> None:
        self.config_dock.show()
        self.config_dock.raise_()
        self.config_editor.choose_file()

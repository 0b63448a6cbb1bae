"""Process a saved run from the GUI: choose the run and the operations, watch a progress bar,
cancel. The same job as `lightsheet process`, on a background thread so the window stays live;
a cancel stops the workers after the item in hand and leaves the new run saying how far it got.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lightsheet.app.run_folder import RunFolderError, prepare_run_folder
from lightsheet.postprocess import Outcome, ProcessingInputError, ProcessOptions, Step
from lightsheet.postprocess.plan import make_plan
from lightsheet.postprocess.run import execute, open_engine
from lightsheet.processing.pool import usable_cores

log = logging.getLogger("lightsheet.gui")


class ProcessJob(QObject):
    """Runs one job on a thread; its signals arrive in the Qt thread."""

    progressed = Signal(object)  # Step
    finished = Signal(object)  # Outcome
    refused = Signal(str)  # bad input or an unusable output folder: nothing was written

    def __init__(self, options: ProcessOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self.cancel_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            plan = make_plan(self.options)
            with open_engine(plan) as engine:
                folder = prepare_run_folder(self.options.out_dir, overwrite=False)
                outcome = execute(plan, engine, folder, self.progressed.emit, self.cancel_event)
        except (ProcessingInputError, RunFolderError) as exc:
            self.refused.emit(str(exc))
            return
        except Exception as exc:  # anything else must reach the operator, not a dead thread
            log.exception("processing failed")
            self.refused.emit(f"{type(exc).__name__}: {exc}")
            return
        self.finished.emit(outcome)


class _PathField(QWidget):
    """A line edit with buttons that browse for a folder (and, optionally, a file)."""

    def __init__(self, files: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        folder = QPushButton("Run…" if files else "Browse…")
        folder.clicked.connect(self._choose_folder)
        layout.addWidget(folder)
        if files:
            file = QPushButton("Image…")
            file.clicked.connect(self._choose_file)
            layout.addWidget(file)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", self.edit.text())
        if chosen:
            self.edit.setText(chosen)

    def _choose_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Choose an image", self.edit.text(), "Images (*.npy *.tif *.tiff)"
        )
        if chosen:
            self.edit.setText(chosen)


class ProcessDialog(QDialog):
    """Options, a Start button, a progress bar and Cancel, for one job at a time."""

    def __init__(self, run_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Process a saved run")
        self.setModal(False)
        self.job: ProcessJob | None = None
        self.outcome: Outcome | None = None
        self.run_field, self.out_field = _PathField(), _PathField()
        self.dark_field, self.flat_field = _PathField(files=True), _PathField(files=True)
        if run_dir is not None:
            self.run_field.edit.setText(str(run_dir))
        self.bin_box = QSpinBox()
        self.bin_box.setRange(1, 16)
        self.projection_box = QCheckBox("Add the maximum projection over z")
        self.workers_box = QSpinBox()
        self.workers_box.setRange(1, max(64, usable_cores()))
        self.workers_box.setValue(usable_cores())
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("this computer, or tcp://host:port of a scheduler")
        form = QFormLayout()
        for label, widget in (
            ("Run", self.run_field),
            ("New run", self.out_field),
            ("Dark", self.dark_field),
            ("Flat", self.flat_field),
            ("Bin", self.bin_box),
            ("", self.projection_box),
            ("Workers", self.workers_box),
            ("Scheduler", self.scheduler_edit),
        ):
            form.addRow(label, widget)
        self.phase = QLabel("")
        self.progress = QProgressBar()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.phase, self.progress, self.message):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.resize(640, 0)

    @property
    def running(self) -> bool:
        return self.job is not None

    def options(self) -> ProcessOptions:
        """The job the fields describe; ProcessingInputError when a field is unusable."""
        run_dir, out_dir = self.run_field.path(), self.out_field.path()
        if run_dir is None or out_dir is None:
            raise ProcessingInputError("choose the run to process and the new run's folder")
        return ProcessOptions(
            run_dir=run_dir,
            out_dir=out_dir,
            dark=self.dark_field.path(),
            flat=self.flat_field.path(),
            max_projection=self.projection_box.isChecked(),
            bin_factor=self.bin_box.value(),
            workers=self.workers_box.value(),
            scheduler=self.scheduler_edit.text().strip() or None,
        )

    def start(self) -> bool:
        if self.running:
            return False
        try:
            options = self.options()
        except ProcessingInputError as exc:
            self._show(str(exc), error=True)
            return False
        self.outcome = None
        self.job = ProcessJob(options, self)
        self.job.progressed.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.refused.connect(self._on_refused)
        self._set_running(True)
        self._show("starting…")
        self.job.start()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._show("cancelling: the workers finish the item in hand")

    def closeEvent(self, event: object) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10.0)
        super().closeEvent(event)

    def _on_progress(self, step: Step) -> None:
        self.phase.setText(f"{step.phase}: {step.done} of {step.total} {step.unit}(s)")
        self.progress.setRange(0, step.total)
        self.progress.setValue(step.done)

    def _on_finished(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._set_running(False)
        text = (
            f"{outcome.stop_reason}: {outcome.volumes_saved} of {outcome.volumes_total} "
            f"volume(s) in {outcome.out_dir} ({outcome.engine})"
        )
        self._show(text, error=outcome.status == "fault")

    def _on_refused(self, text: str) -> None:
        self._set_running(False)
        self._show(text, error=True)

    def _set_running(self, running: bool) -> None:
        if not running:
            self.job = None
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #d62728" if error else "")
        self.message.setText(text)


def open_process_dialog(parent: QWidget, run_dir: Path | None = None) -> ProcessDialog:
    """Show the dialog (one per parent, kept alive by it) — the main window's menu calls this."""
    dialog = getattr(parent, "_process_dialog", None)
    if dialog is None:
        dialog = ProcessDialog(run_dir, parent)
        parent._process_dialog = dialog  # type: ignore[attr-defined]
    dialog.show()
    dialog.raise_()
    return dialog

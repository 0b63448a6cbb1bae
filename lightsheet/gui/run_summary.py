"""After each run: how it ended, what its files hold, and whether its timing can be trusted.

The verdict is the ``timing`` section ``Acquisition.finish()`` wrote into the run's metadata.json
(green in sync, red out of sync with the reasons, grey when it cannot be judged). "Timing plot…"
draws the run's timing figure on a worker thread (matplotlib's Agg canvas, no display) and shows
the PNG; "Details…" shows every figure of the report as ``lightsheet inspect`` prints it.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QFont, QPixmap
from qtpy.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lightsheet.analysis import format_timing, write_timing_plot
from lightsheet.app.acquisition import Outcome
from lightsheet.storage import read_metadata

log = logging.getLogger("lightsheet.gui")

PLOT_FILE = "timing.png"
VERDICT_COLOURS = {True: "#1a7f37", False: "#cf222e", None: "#57606a"}
VERDICT_WORDS = {True: "in sync", False: "out of sync", None: "timing unknown"}


def timing_of(folder: Path) -> dict[str, Any] | None:
    """The run's timing section, or None when the metadata holds none (or cannot be read)."""
    try:
        timing = read_metadata(folder).get("timing")
    except (OSError, ValueError) as exc:
        log.warning("no timing for %s: %s", folder, exc)
        return None
    return timing if isinstance(timing, dict) else None


class TextDialog(QDialog):
    """A monospaced, read-only text (the timing report)."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(900, 480)
        self.text = QPlainTextEdit(text)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        font = QFont("monospace")
        font.setStyleHint(QFont.TypeWriter)
        self.text.setFont(font)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)


class PlotDialog(QDialog):
    """A PNG in a scroll area, at its own size."""

    def __init__(self, title: str, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.path = path
        self.pixmap = QPixmap(str(path))
        image = QLabel()
        image.setPixmap(self.pixmap)
        scroll = QScrollArea()
        scroll.setWidget(image)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(QLabel(str(path)))
        self.resize(min(self.pixmap.width() + 40, 1060), 760)


class RunSummary(QWidget):
    """The last run's outcome and timing verdict, with the plot and the details a click away."""

    plotted = Signal(object)  # Path of the PNG, once shown
    _plot_done = Signal(object, object)  # (folder, Future)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self.timing: dict[str, Any] | None = None
        self.dialogs: list[QDialog] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timing-plot")
        self.title = QLabel("No run yet in this session.")
        self.title.setWordWrap(True)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.plot_button = QPushButton("Timing plot…")
        self.plot_button.setToolTip("Frame intervals, schedule, histogram and z per plane")
        self.details_button = QPushButton("Details…")
        self.details_button.setToolTip("Every figure of the timing report")
        self.buttons = QWidget()  # shown once there is a run to look at
        buttons = QHBoxLayout(self.buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.plot_button)
        buttons.addWidget(self.details_button)
        self.buttons.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.verdict)
        layout.addWidget(self.buttons)
        self.plot_button.clicked.connect(self.show_plot)
        self.details_button.clicked.connect(self.show_details)
        self._plot_done.connect(self._on_plot)
        self._set_enabled(False)

    def show_outcome(self, outcome: Outcome) -> None:
        """The run that just ended: its outcome and the timing its metadata holds."""
        self.folder = Path(outcome.folder)
        self.timing = timing_of(self.folder)
        dropped = f", {outcome.frames_dropped} dropped" if outcome.frames_dropped else ""
        missing = f", {outcome.frames_missing} missing" if outcome.frames_missing else ""
        self.title.setText(
            f"<b>{self.folder.name}</b>: {outcome.status}, {outcome.volumes_saved} volume(s) "
            f"saved{dropped}{missing}"
        )
        self.title.setToolTip(f"{self.folder}\nstop reason: {outcome.stop_reason}")
        in_sync = None if self.timing is None else self.timing.get("in_sync")
        summary = "no timing report" if self.timing is None else self.timing.get("summary", "")
        colour = VERDICT_COLOURS.get(in_sync, VERDICT_COLOURS[None])
        self.verdict.setText(f"<span style='color:{colour}'>● {summary}</span>")
        reasons = [] if self.timing is None else list(self.timing.get("reasons") or [])
        self.verdict.setToolTip("\n".join(reasons) or VERDICT_WORDS.get(in_sync, ""))
        self._set_enabled(self.timing is not None)
        self.buttons.show()

    @property
    def in_sync(self) -> bool | None:
        return None if self.timing is None else self.timing.get("in_sync")

    def show_plot(self) -> Future | None:
        """Draw the timing figure off the Qt thread; the dialog opens when it is written."""
        folder = self.folder
        if folder is None:
            return None
        self.plot_button.setEnabled(False)
        self.plot_button.setText("Drawing…")
        future = self._executor.submit(write_timing_plot, folder, folder / PLOT_FILE)
        future.add_done_callback(lambda f: self._plot_done.emit(folder, f))
        return future

    def show_details(self) -> None:
        if self.timing is None or self.folder is None:
            return
        dialog = TextDialog(f"Timing of {self.folder.name}", format_timing(self.timing), self)
        self.dialogs.append(dialog)
        dialog.show()

    def close_dialogs(self) -> None:
        for dialog in self.dialogs:
            dialog.close()
        self.dialogs.clear()

    def shutdown(self) -> None:
        self.close_dialogs()
        self._executor.shutdown(wait=True)

    def _on_plot(self, folder: Path, future: Future) -> None:
        self.plot_button.setText("Timing plot…")
        self.plot_button.setEnabled(self.timing is not None)
        exc = future.exception()
        if exc is not None:
            log.warning("timing plot of %s failed: %s", folder, exc)
            self.verdict.setToolTip(f"the timing plot failed: {exc}")
            self.title.setText(f"{self.title.text()}<br><i>timing plot failed: {exc}</i>")
            return
        dialog = PlotDialog(f"Timing of {folder.name}", future.result(), self)
        self.dialogs.append(dialog)
        dialog.show()
        self.plotted.emit(future.result())

    def _set_enabled(self, enabled: bool) -> None:
        self.plot_button.setEnabled(enabled)
        self.details_button.setEnabled(enabled)

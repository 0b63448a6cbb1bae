"""The dialog shown when a process dies: which one, why, and the log lines around it.

Non-modal, so the operator can keep looking at the preview, the logs and the status bar while
reading it; "Restart processes" brings the rig back with the same settings and the mode the
operator had. The lines open on the fault's own: the failed process's last error (its
traceback) or else the supervisor's "fault:" line is centred and outlined, and every line of the
failed process is tinted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtGui import QColor, QFont, QTextCharFormat, QTextCursor, QTextFormat
from qtpy.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from lightsheet.runtime.logs import read_timeline
from lightsheet.runtime.supervisor import Fault

log = logging.getLogger("lightsheet.gui")

LINES_BEFORE = 40
LINES_AFTER = 15
PROCESS_TINT = QColor(255, 235, 235)
FAULT_LINE = QColor(255, 190, 190)
SEVERE = (" ERROR ", " CRITICAL ")


def log_stamp(when: float) -> str:
    """A wall-clock time as the log files write it (UTC ISO with microseconds and Z)."""
    return datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lines_around(
    log_dir: Path, when: float, before: int = LINES_BEFORE, after: int = LINES_AFTER
) -> list[str]:
    """The merged timeline's records just before and after ``when`` (newest last)."""
    try:
        records = [r.rstrip("\n") for r in read_timeline(log_dir)]
    except FileNotFoundError:
        return []
    stamp = log_stamp(when)
    cut = next((i for i, r in enumerate(records) if r[: len(stamp)] > stamp), len(records))
    return records[max(0, cut - before) : cut + after]


def fault_line(records: list[str], process: str, when: float) -> int | None:
    """Index of the fault's own record among ``records``: the failed process's last error at or
    before the fault, else the supervisor's "fault: <process>" line, else the last record of
    the process before the fault."""
    stamp = log_stamp(when)
    own = [i for i, r in enumerate(records) if r.split(" ", 2)[1:2] == [process]]
    errors = [i for i in own if records[i][: len(stamp)] <= stamp and any(s in records[i]
              for s in SEVERE)]  # fmt: skip
    if errors:
        return errors[-1]
    marker = f"fault: {process} "
    found = next((i for i, r in enumerate(records) if marker in r), None)
    if found is not None:
        return found
    before = [i for i in own if records[i][: len(stamp)] <= stamp]
    return before[-1] if before else None


class FaultDialog(QDialog):
    """Cause of a process's death and the log lines around it; offers a restart."""

    restart_requested = Signal()

    def __init__(self, fault: Fault, log_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fault = fault
        self.setModal(False)
        self.setWindowTitle(f"lightsheet — {fault.process} stopped")
        self.resize(900, 520)
        when = datetime.fromtimestamp(fault.time).strftime("%H:%M:%S")
        self.cause = QLabel(
            f"<b>The {fault.process} process {fault.reason}</b> at {when}.<br>"
            "The other processes were stopped in order; completed files are readable. "
            "Restart the processes to go on."
        )
        self.cause.setWordWrap(True)
        self.lines = QPlainTextEdit()
        self.lines.setReadOnly(True)
        self.lines.setLineWrapMode(QPlainTextEdit.NoWrap)
        font = QFont("monospace")
        font.setStyleHint(QFont.TypeWriter)
        self.lines.setFont(font)
        around = lines_around(log_dir, fault.time)
        self.lines.setPlainText("\n".join(around) if around else f"no log lines in {log_dir}")
        self.fault_index = fault_line(around, fault.process, fault.time)
        # A record may span several lines (a traceback): where each one's lines start.
        self._first_block = [0]
        for record in around:
            self._first_block.append(self._first_block[-1] + record.count("\n") + 1)
        self.restart_button = QPushButton("Restart processes")
        self.restart_button.clicked.connect(self._restart)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.restart_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.cause)
        layout.addWidget(QLabel(f"Log lines around the failure ({log_dir}):"))
        layout.addWidget(self.lines, 1)
        layout.addLayout(buttons)
        self._mark(around, fault.process)

    def showEvent(self, event: object) -> None:
        super().showEvent(event)
        self.scroll_to_fault()

    def scroll_to_fault(self) -> None:
        """Centre the fault's own line (the view has its size only once shown)."""
        if self.fault_index is None:
            return
        block = self.lines.document().findBlockByNumber(self._first_block[self.fault_index])
        self.lines.setTextCursor(QTextCursor(block))
        self.lines.centerCursor()

    def _mark(self, records: list[str], process: str) -> None:
        selections = []
        for index, record in enumerate(records):
            if record.split(" ", 2)[1:2] != [process] and index != self.fault_index:
                continue
            fmt = QTextCharFormat()
            fmt.setBackground(FAULT_LINE if index == self.fault_index else PROCESS_TINT)
            fmt.setProperty(QTextFormat.FullWidthSelection, True)
            for block in range(self._first_block[index], self._first_block[index + 1]):
                selection = QTextEdit.ExtraSelection()
                selection.format = fmt
                selection.cursor = QTextCursor(self.lines.document().findBlockByNumber(block))
                selections.append(selection)
        self.lines.setExtraSelections(selections)

    def _restart(self) -> None:
        self.restart_requested.emit()
        self.close()

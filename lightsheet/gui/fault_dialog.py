"""The dialog shown when a process dies: which one, why, and the log lines around it.

Non-modal, so the operator can keep looking at the preview, the logs and the status bar while
reading it; "Restart processes" brings the rig back with the same settings.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lightsheet.runtime.logs import read_timeline
from lightsheet.runtime.supervisor import Fault

log = logging.getLogger("lightsheet.gui")

LINES_BEFORE = 40
LINES_AFTER = 15


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
        self.lines.verticalScrollBar().setValue(self.lines.verticalScrollBar().maximum())
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

    def _restart(self) -> None:
        self.restart_requested.emit()
        self.close()

"""The session's merged log timeline, filtered by process and level, following new lines.

A reader thread follows the per-process files (``follow_timeline``, as ``lightsheet logs -f``
does) and hands whole records over; a timer in the Qt thread shows them a few times a second,
so a burst of logging never floods the event loop and a long traceback is never split.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from lightsheet.runtime.logs import follow_timeline

log = logging.getLogger("lightsheet.gui")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_COLOURS = {"WARNING": "#c06000", "ERROR": "#d62728", "CRITICAL": "#d62728"}
MAX_RECORDS = 50_000
DRAIN_MS = 300
RETRY_S = 0.5


@dataclass(frozen=True)
class LogRecord:
    """One record of the timeline: ``<time> <process> <LEVEL> <KIND> <message>``."""

    text: str
    process: str
    level: str

    @classmethod
    def parse(cls, text: str) -> LogRecord:
        parts = text.split(" ", 4)
        if len(parts) >= 4 and parts[2] in LEVELS:
            return cls(text.rstrip("\n"), parts[1], parts[2])
        return cls(text.rstrip("\n"), "", "INFO")


class TimelineReader:
    """Follows a session's log files on a thread; :meth:`take` returns what arrived since."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._stop = threading.Event()
        self._records: deque[str] = deque()
        self._thread = threading.Thread(target=self._run, name="log-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def take(self) -> list[str]:
        records = []
        while self._records:
            records.append(self._records.popleft())
        return records

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for record in follow_timeline(self.log_dir, stop=self._stop):
                    self._records.append(record)
                return
            except FileNotFoundError:  # no log file yet: the processes are starting
                self._stop.wait(RETRY_S)
            except Exception:
                log.exception("reading the logs failed; retrying")
                self._stop.wait(RETRY_S)


class LogsView(QWidget):
    """Filterable, following view of the merged timeline of one session's logs."""

    def __init__(self, log_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log_dir = Path(log_dir)
        self.records: deque[LogRecord] = deque(maxlen=MAX_RECORDS)
        self.process = QComboBox()
        self.process.addItem("all processes", "")
        self.process.setToolTip("Only the records of this process")
        self.level = QComboBox()
        self.level.addItems(LEVELS[:4])
        self.level.setCurrentText("INFO")
        self.level.setToolTip("Only records of this level and more severe")
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter text")
        self.search.setClearButtonEnabled(True)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Keep the newest record in view")
        self.count = QLabel()
        bar = QHBoxLayout()
        for widget in (self.process, self.level, self.search, self.follow, self.count):
            bar.addWidget(widget)
        bar.setStretch(2, 1)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.text.setMaximumBlockCount(MAX_RECORDS * 2)
        font = QFont("monospace")
        font.setStyleHint(QFont.TypeWriter)
        self.text.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.text)
        self.process.currentIndexChanged.connect(self.rebuild)
        self.level.currentIndexChanged.connect(self.rebuild)
        self.search.textChanged.connect(self.rebuild)
        self.follow.toggled.connect(self._scroll_if_following)
        self.reader = TimelineReader(self.log_dir)
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self.drain)

    def start(self) -> None:
        self.reader.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.reader.stop()

    # -- records ------------------------------------------------------------------------------

    def drain(self) -> None:
        """Show the records the reader collected since the last call."""
        new = [LogRecord.parse(text) for text in self.reader.take()]
        if not new:
            return
        self.records.extend(new)
        for record in new:
            if record.process and self.process.findData(record.process) < 0:
                self.process.addItem(record.process, record.process)
        self._append([r for r in new if self.accepts(r)])
        self.count.setText(f"{len(self.records)} records")

    def accepts(self, record: LogRecord) -> bool:
        process = self.process.currentData()
        if process and record.process != process:
            return False
        if LEVELS.index(record.level) < LEVELS.index(self.level.currentText()):
            return False
        needle = self.search.text()
        return not needle or needle.lower() in record.text.lower()

    def visible_text(self) -> str:
        return self.text.toPlainText()

    def rebuild(self, *_: object) -> None:
        """Show every kept record again under the current filters."""
        self.text.clear()
        self._append([r for r in self.records if self.accepts(r)])

    def _append(self, records: list[LogRecord]) -> None:
        if not records:
            return
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.End)
        cursor.beginEditBlock()
        plain = QTextCharFormat()
        for record in records:
            fmt = plain
            colour = LEVEL_COLOURS.get(record.level)
            if colour:
                fmt = QTextCharFormat()
                fmt.setForeground(QColor(colour))
            if not self.text.document().isEmpty():
                cursor.insertText("\n", plain)
            cursor.insertText(record.text, fmt)
        cursor.endEditBlock()
        self._scroll_if_following()

    def _scroll_if_following(self, *_: object) -> None:
        if self.follow.isChecked():
            bar = self.text.verticalScrollBar()
            bar.setValue(bar.maximum())

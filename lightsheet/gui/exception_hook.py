"""Uncaught exceptions in the GUI are logged and shown; the window and the rig carry on.

PyQt5 aborts the whole process when a slot raises and ``sys.excepthook`` is Python's default,
which would take the running acquisition down with a bug in a button's handler. The hook
installed here logs the traceback to the session's main log, shows it in one non-modal dialog
(a slot that fails on every timer tick updates the same dialog with a count, it does not open a
hundred), and returns, so Qt goes on with the event loop. Exceptions in other threads of the
main process arrive the same way through ``threading.excepthook``.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from qtpy.QtCore import QObject, Signal
from qtpy.QtGui import QFont
from qtpy.QtWidgets import QDialog, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

log = logging.getLogger("lightsheet.gui")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class ErrorDialog(QDialog):
    """The latest uncaught error with its traceback, and how many there were."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.setWindowTitle("lightsheet — internal error")
        self.resize(760, 420)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.NoWrap)
        font = QFont("monospace")
        font.setStyleHint(QFont.TypeWriter)
        self.details.setFont(font)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.details, 1)
        layout.addWidget(close)
        self.count = 0

    def add(self, text: str, trace: str) -> None:
        self.count += 1
        times = "" if self.count == 1 else f" ({self.count} errors so far; the latest below)"
        self.summary.setText(
            f"<b>An error in the window's code{times}:</b> {text}<br>The window and the rig "
            "keep running; the traceback is in the main log. Please report it."
        )
        self.details.setPlainText(trace)


class ExceptionHook(QObject):
    """Installs itself as ``sys.excepthook`` and ``threading.excepthook`` until uninstalled."""

    _from_thread = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = parent
        self.dialog: ErrorDialog | None = None
        self.caught: list[BaseException] = []
        self._previous = sys.excepthook
        self._previous_thread = threading.excepthook
        self._seen: dict[str, int] = {}
        self._from_thread.connect(self._show)

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        if sys.excepthook == self.handle:
            sys.excepthook = self._previous
        if threading.excepthook == self._handle_thread:
            threading.excepthook = self._previous_thread

    def handle(self, kind: type[BaseException], value: BaseException,
               trace: TracebackType | None) -> None:  # fmt: skip
        """sys.excepthook: log, show, go on (Ctrl-C keeps Python's own behaviour)."""
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, value, trace)
            return
        text, full = self._record((kind, value, trace), "in the window")
        self._show(text, full)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        where = f"in thread {args.thread.name if args.thread else '?'}"
        text, full = self._record((args.exc_type, args.exc_value, args.exc_traceback), where)
        self._from_thread.emit(text, full)

    def _record(self, info: ExcInfo, where: str) -> tuple[str, str]:
        kind, value, trace = info
        self.caught.append(value)
        full = "".join(traceback.format_exception(kind, value, trace))
        repeats = self._seen.get(full, 0) + 1
        self._seen[full] = repeats
        if repeats == 1 or repeats % 100 == 0:  # the first in full, then a line per hundred
            log.error("uncaught exception %s (%d so far)", where, repeats, exc_info=info)
        return f"{kind.__name__}: {value}", full

    def _show(self, text: str, full: str) -> None:
        if self.dialog is None:
            self.dialog = ErrorDialog(self.window)
        self.dialog.add(text, full)
        self.dialog.show()
        self.dialog.raise_()

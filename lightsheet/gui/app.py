"""Running the GUI: the QApplication, the session's logs, the operator's settings, an exception
hook that keeps the window alive, and Ctrl-C/SIGTERM that close cleanly.

Python runs signal handlers only between bytecodes, and Qt's event loop is C++; a short timer
gives the interpreter a moment several times a second, so Ctrl-C in the terminal and SIGTERM
from a service manager reach the handler, which asks the window to close — the same clean path
as the window's close button: the run is saved, every process stopped, shared memory released.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from qtpy.QtCore import QSettings, QTimer
from qtpy.QtWidgets import QApplication

from lightsheet.app.limits import config_issues
from lightsheet.config import ConfigError, RigConfig, parse_document_text
from lightsheet.config.yaml_io import read_text
from lightsheet.gui.controller import SessionController
from lightsheet.gui.layout import gui_settings
from lightsheet.gui.main_window import MainWindow
from lightsheet.runtime.logs import new_session_dir, setup_process_logging, stop_process_logging

log = logging.getLogger("lightsheet.gui")

SIGNAL_POLL_MS = 200
EXIT_OK = 0
EXIT_INTERRUPTED = 130


def get_app() -> QApplication:
    """The process's QApplication, created (as napari configures it) on first use."""
    from napari.qt import get_qapp

    app = get_qapp()
    app.setApplicationName("lightsheet")
    return app


class SignalCloser:
    """SIGINT/SIGTERM close the window cleanly; the previous handlers come back afterwards."""

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.received: int | None = None
        self._previous: dict[int, Callable | int | None] = {}
        self._timer = QTimer(window)
        self._timer.setInterval(SIGNAL_POLL_MS)
        self._timer.timeout.connect(lambda: None)  # lets Python run pending signal handlers

    def install(self) -> None:
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        self._timer.start()

    def uninstall(self) -> None:
        self._timer.stop()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            log.warning("%s again: already stopping", name)
            return
        self.received = signum
        log.warning("%s: closing the window, stopping every process", name)
        QTimer.singleShot(0, lambda: self.window.request_close(interrupted=True))


def create_window(
    config: RigConfig,
    config_path: Path | None = None,
    log_dir: Path | None = None,
    settings: QSettings | None = None,
) -> MainWindow:
    """A window on a new session (processes not started yet: call ``window.start()``);
    ``settings`` keeps its layout and recent runs (None: nothing is remembered)."""
    if log_dir is None:
        log_dir = new_session_dir(config.logging.resolved_dir())
    controller = SessionController(config, log_dir)
    return MainWindow(controller, config_path, settings=settings)


def refuse_unusable(config: RigConfig, config_path: Path | None) -> None:
    """A config whose scan the rig will not play is refused before any window opens, as
    ``lightsheet config check`` refuses it (ConfigError: the CLI prints it, exit code 2)."""
    source = str(config_path) if config_path is not None else "<default config>"
    document = None
    if config_path is not None:
        document = parse_document_text(read_text(config_path), source)
    issues = config_issues(config, document, source)
    if issues:
        raise ConfigError(issues)


def run_gui(config: RigConfig, config_path: Path | None = None) -> int:
    """Show the window until it closes; 0, or 130 after Ctrl-C/SIGTERM (clean stop either way)."""
    refuse_unusable(config, config_path)
    log_dir = new_session_dir(config.logging.resolved_dir())
    setup_process_logging("main", log_dir, config.logging.level)
    log.info("lightsheet gui on rig %r, logs in %s", config.name, log_dir)
    app = get_app()
    window = create_window(config, config_path, log_dir, settings=gui_settings())
    window.exception_hook.install()
    closer = SignalCloser(window)
    closer.install()
    try:
        window.show()
        window.start()
        app.exec_()
    finally:
        window.shutdown()
        closer.uninstall()
        stop_process_logging()
    return EXIT_INTERRUPTED if window.interrupted else EXIT_OK

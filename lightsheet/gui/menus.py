"""The window's menus: files and runs, the rig (start, stop, modes, restart), tools, the view.

Every action that has a key has it in the menu too, so the keys can be looked up there: Start
Ctrl+R, Stop Ctrl+., the modes Ctrl+1 … Ctrl+4 (paused, calibration, planar, volumetric).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QFileDialog, QMenu

from lightsheet.gui.controller import MODES
from lightsheet.gui.docks.mode import SHORTCUTS
from lightsheet.gui.process_dialog import open_process_dialog

if TYPE_CHECKING:
    from lightsheet.gui.main_window import MainWindow


def build_menus(window: MainWindow) -> None:
    bar = window.menuBar()
    _file_menu(window, bar.addMenu("&File"))
    _rig_menu(window, bar.addMenu("&Rig"))
    tools = bar.addMenu("&Tools")
    tools.addAction("Process a saved run…", lambda: open_process_dialog(window))
    view = bar.addMenu("&View")
    for dock in window.docks():
        view.addAction(dock.toggleViewAction())
    view.addSeparator()
    view.addAction("Reset layout", window.layout_keeper.reset)


def _file_menu(window: MainWindow, menu: QMenu) -> None:
    opened = menu.addAction("Open run…", lambda: choose_run(window))
    opened.setShortcut(QKeySequence.Open)
    window.recent_menu = menu.addMenu("Open recent run")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent(window))
    menu.addAction("Close opened runs", window.run_layers.close_all)
    menu.addSeparator()
    menu.addAction("Open config…", window.open_config)
    menu.addAction("Save config", lambda: window.config_editor.save())
    menu.addSeparator()
    quit_action = menu.addAction("Quit", window.close)
    quit_action.setShortcut("Ctrl+Q")


def _rig_menu(window: MainWindow, menu: QMenu) -> None:
    menu.addAction(window.toolbar.start_action)
    menu.addAction(window.toolbar.stop_action)
    menu.addSeparator()
    window.mode_actions = {}
    for mode in MODES:
        action = menu.addAction(f"{mode.capitalize()} mode")
        action.setShortcut(SHORTCUTS[mode])
        action.triggered.connect(lambda _=False, m=mode: window.mode_dock.choose(m))
        window.mode_actions[mode] = action
    menu.addSeparator()
    menu.addAction("Restart processes", window.controller.restart)


def choose_run(window: MainWindow) -> None:
    start = str(window.saving_dock.parent_folder())
    folder = QFileDialog.getExistingDirectory(window, "Open a run folder", start)
    if folder:
        window.open_run(Path(folder))


def fill_recent(window: MainWindow) -> None:
    menu = window.recent_menu
    menu.clear()
    paths = window.recent_runs.paths()
    for path in paths:
        menu.addAction(path.name, lambda p=path: window.open_run(p)).setToolTip(str(path))
    if not paths:
        menu.addAction("no recent runs").setEnabled(False)

"""Where the docks go, so that the window works on a 1366 × 768 laptop screen and up, and how it
remembers what the operator made of it.

Left: the mode, then the camera and the scan one above the other (both in view while setting
up). Right: saving with the last run's verdict, then the view (contrast, histogram), the
waveform plot, the trigger, the calibration and the dark frame as tabs. Bottom:
the logs and the config editor; raising the editor makes the bottom area tall enough to edit in,
raising the logs gives the height back. The window's geometry and dock layout are saved in the
GUI's settings when it closes and restored when it opens; "Reset layout" brings this one back.
"""

from __future__ import annotations

from qtpy.QtCore import QByteArray, QSettings, Qt, QTimer
from qtpy.QtGui import QGuiApplication
from qtpy.QtWidgets import QDockWidget, QMainWindow

DEFAULT_SIZE = (1560, 960)
SIDE_WIDTH = (345, 365)  # left, right
LOGS_HEIGHT = 130
EDITOR_SHARE = 0.55  # of the window's height, when the config editor is raised
LAYOUT_VERSION = 4  # bump when the dock arrangement changes: old saved states are ignored
GEOMETRY_KEY, STATE_KEY = "window/geometry", "window/state"


def gui_settings() -> QSettings:
    """The operator's GUI settings (layout, recent runs): ``~/.config/lightsheet/gui.ini``."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, "lightsheet", "gui")


def _content_height(dock: QDockWidget) -> int:
    """The height a dock needs to show its controls without scrolling, title included."""
    widget = dock.widget()
    inner = getattr(widget, "widget", lambda: None)() or widget  # a scroll area's contents
    return inner.sizeHint().height() + 24


def fit_to_screen(window: QMainWindow) -> None:
    """The default size, shrunk to the screen's available area when that is smaller."""
    width, height = DEFAULT_SIZE
    screen = window.screen() if hasattr(window, "screen") else None
    screen = screen or QGuiApplication.primaryScreen()
    if screen is not None:
        area = screen.availableGeometry()
        width, height = min(width, area.width()), min(height, area.height())
    window.resize(width, height)


class WindowLayout:
    """Arranges the window's docks, and saves and restores the operator's arrangement."""

    def __init__(self, window: QMainWindow, settings: QSettings | None) -> None:
        self.window = window
        self.settings = settings
        self._logs_height = LOGS_HEIGHT

    def arrange(self, left: list[list[QDockWidget]], right: list[list[QDockWidget]],
                bottom: list[QDockWidget]) -> None:  # fmt: skip
        """Each inner list of ``left``/``right`` is one stacked group, its docks tabbed (the
        first raised); ``bottom`` is one tabbed group."""
        window = self.window
        for area, groups in ((Qt.LeftDockWidgetArea, left), (Qt.RightDockWidgetArea, right),
                             (Qt.BottomDockWidgetArea, [bottom])):  # fmt: skip
            for group in groups:
                window.addDockWidget(area, group[0])
                for dock in group[1:]:
                    window.addDockWidget(area, dock)
                    window.tabifyDockWidget(group[0], dock)
                group[0].raise_()
        window.resizeDocks([left[0][0], right[0][0]], list(SIDE_WIDTH), Qt.Horizontal)
        window.resizeDocks([bottom[0]], [LOGS_HEIGHT], Qt.Vertical)
        self._columns = [[group[0] for group in groups] for groups in (left, right)]
        self.default_state = window.saveState(LAYOUT_VERSION)

    def fit_columns(self) -> None:
        """Each stacked dock but the last as tall as its controls (at most half the column),
        the last takes the rest; done once the window has its size."""
        for docks in self._columns:
            total = sum(dock.height() for dock in docks)
            heights = [min(_content_height(dock), total // 2) for dock in docks[:-1]]
            heights.append(max(total - sum(heights), 100))
            self.window.resizeDocks(docks, heights, Qt.Vertical)

    def reset(self) -> None:
        """The arrangement this module makes, whatever the operator did with the docks."""
        self.window.restoreState(self.default_state, LAYOUT_VERSION)
        fit_to_screen(self.window)
        QTimer.singleShot(0, self.fit_columns)

    def follow_editor(self, editor: QDockWidget, logs: QDockWidget) -> None:
        """Raising ``editor`` makes the bottom area tall; raising ``logs`` gives it back."""
        editor.visibilityChanged.connect(lambda shown: shown and self._later(self._tall, editor))
        logs.visibilityChanged.connect(lambda shown: shown and self._later(self._short, logs))

    def save(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue(GEOMETRY_KEY, self.window.saveGeometry())
        self.settings.setValue(STATE_KEY, self.window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def restore(self) -> bool:
        """The saved geometry and dock layout, if any (and of this layout version)."""
        if self.settings is None:
            return False
        geometry, state = self.settings.value(GEOMETRY_KEY), self.settings.value(STATE_KEY)
        restored = False
        if isinstance(geometry, QByteArray):
            restored = self.window.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            restored = self.window.restoreState(state, LAYOUT_VERSION) and restored
        return restored

    # -- internals ----------------------------------------------------------------------------

    def _later(self, action, dock: QDockWidget) -> None:
        QTimer.singleShot(0, lambda: action(dock))

    def _tall(self, editor: QDockWidget) -> None:
        if editor.isFloating():
            return
        height = editor.height()
        if height < EDITOR_SHARE * self.window.height():
            self._logs_height = height
            self.window.resizeDocks([editor], [int(EDITOR_SHARE * self.window.height())],
                                    Qt.Vertical)  # fmt: skip

    def _short(self, logs: QDockWidget) -> None:
        if not logs.isFloating() and logs.height() > self._logs_height:
            self.window.resizeDocks([logs], [self._logs_height], Qt.Vertical)

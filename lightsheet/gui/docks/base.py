"""What every settings dock shares: show the rig's config, send changes, lock during a run.

A dock reads its widgets into a new RigConfig (``config_from_widgets``) a moment after the last
edit, so typing "125" into a field sends one change, not three; the controller applies it to the
running rig, latest wins. When the config changes from elsewhere (the editor, another dock) the
dock shows it again with its widgets' signals blocked, so showing never sends.

Scan settings are checked before they are sent, with the Session's own check
(``lightsheet.app.limits``): each checked field shows the range it allows now, a refused value
stays as typed and is marked at its field with the reason and its fixes, and nothing is sent
until it plays. A value the rig itself refuses (a port that cannot open) is said in the dock,
and the fields keep what was typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lightsheet.app import limits
from lightsheet.app.config_change import changes
from lightsheet.config import RigConfig, issues_from_validation_error
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.checked_field import CheckedField

APPLY_DELAY_MS = 300
MIN_VISIBLE_HEIGHT = 110  # taller docks scroll rather than push the window off the screen
LOCKED_TIP = "Locked during an acquisition: a run keeps the settings it started with."


def changed_config(config: RigConfig, changes: dict[str, Any]) -> RigConfig:
    """A validated copy of ``config`` with dotted keys (``"camera.exposure_ms"``) replaced."""
    data = config.model_dump()
    for path, value in changes.items():
        node = data
        *parents, key = path.split(".")
        for part in parents:
            node = node[part]
        node[key] = value
    return RigConfig.model_validate(data)


def validation_message(exc: ValidationError) -> str:
    """The problems of a refused change, as ``key.path: message`` lines (as the config says)."""
    issues = issues_from_validation_error(exc, "", model=RigConfig)
    return "\n".join(f"{i.key_path}: {i.message}" if i.key_path else i.message for i in issues)


class ControlDock(QDockWidget):
    """Base of the settings docks: a form, an error line, and the acquisition lock."""

    def __init__(
        self,
        title: str,
        controller: SessionController,
        parent: QWidget | None = None,
        scrollable: bool = True,
    ) -> None:
        super().__init__(title, parent)
        self.setObjectName(title.lower().replace(" ", "_") + "_dock")
        self.controller = controller
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(6, 4, 6, 4)
        self._layout.setSpacing(4)
        self.form = QFormLayout()
        self.form.setVerticalSpacing(3)
        self._layout.addLayout(self.form)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d62728")
        self.error_label.hide()
        self._extra_at = self._layout.count()
        self._layout.addWidget(self.error_label)
        self._layout.addStretch(1)
        # Scrolls rather than forcing the window taller than a laptop screen.
        self.scroll: QScrollArea | None = None
        if scrollable:
            self.scroll = QScrollArea()
            self.scroll.setWidgetResizable(True)
            self.scroll.setFrameShape(QFrame.NoFrame)
            self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            self.scroll.setWidget(self._body)
            self.setWidget(self.scroll)
        else:
            self.setWidget(self._body)
        self._locked: list[tuple[QWidget, str]] = []
        self._watched: list[QWidget] = []
        self.checked: dict[str, CheckedField] = {}
        self._apply_timer = QTimer(self)
        self._apply_timer.setSingleShot(True)
        self._apply_timer.setInterval(APPLY_DELAY_MS)
        self._apply_timer.timeout.connect(self.apply_now)
        controller.config_changed.connect(self.refresh)
        controller.acquisition_changed.connect(self.set_locked)
        controller.mode_changed.connect(lambda _mode: self.recheck())

    # -- building -----------------------------------------------------------------------------

    def showEvent(self, event: object) -> None:
        """Size the scroll area to the controls: full width, and fully visible when short."""
        if self.scroll is None:
            super().showEvent(event)
            return
        hint = self._body.minimumSizeHint()
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        self.scroll.setMinimumWidth(hint.width() + bar)
        self.scroll.setMinimumHeight(min(hint.height(), MIN_VISIBLE_HEIGHT))
        super().showEvent(event)

    def add_row(self, label: str, widget: QWidget, tip: str = "") -> QWidget:
        if tip:
            widget.setToolTip(tip)
        self.form.addRow(label, widget)
        return widget

    def add_checked_row(
        self, label: str, key: str, editor: QAbstractSpinBox, tip: str = ""
    ) -> QAbstractSpinBox:
        """A row whose value is checked against what the rig will run (``key`` in the config)."""
        if tip:
            editor.setToolTip(tip)
        field = CheckedField(editor, key)
        field.problem.fix_chosen.connect(self.apply_fix)
        self.checked[key] = field
        self.form.addRow(label, field)
        return editor

    def add_widget(self, widget: QWidget) -> QWidget:
        """A widget below the form (plots, tables, buttons)."""
        self._layout.insertWidget(self._extra_at, widget)
        self._extra_at += 1
        return widget

    def watch(self, *widgets: QWidget) -> None:
        """Send the config a moment after any of these widgets changes."""
        for widget in widgets:
            self._watched.append(widget)
            if isinstance(widget, QAbstractSpinBox):
                widget.valueChanged.connect(self.schedule_apply)
            elif isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(self.schedule_apply)
            elif isinstance(widget, QAbstractButton):
                widget.toggled.connect(self.schedule_apply)
            elif isinstance(widget, QLineEdit):
                widget.editingFinished.connect(self.schedule_apply)

    def lock_during_acquisition(self, *widgets: QWidget) -> None:
        for widget in widgets:
            self._locked.append((widget, widget.toolTip()))

    # -- config in and out --------------------------------------------------------------------

    def show_config(self, config: RigConfig) -> None:
        """Set the widgets from ``config``; overridden by each dock."""

    def config_from_widgets(self, config: RigConfig) -> RigConfig:
        """``config`` with this dock's widgets' values; overridden by each dock."""
        return config

    def refresh(self, config: RigConfig | None = None) -> None:
        """Show ``config`` (default: the controller's) without sending anything back; a refused
        value the operator typed stays until it is fixed."""
        config = config if config is not None else self.controller.config
        held = {key: f.value() for key, f in self.checked.items() if f.refusal is not None}
        blocked = [(w, w.blockSignals(True)) for w in self._all_inputs()]
        try:
            self.show_config(config)
            for key, value in held.items():
                self.checked[key].set_value(value)
        finally:
            for widget, was in reversed(blocked):
                widget.blockSignals(was)
        self.recheck()

    def schedule_apply(self, *_: object) -> None:
        self._apply_timer.start()

    def candidate(self) -> RigConfig:
        """The rig's config with this dock's values (ValidationError/ValueError if invalid)."""
        return self.config_from_widgets(self.controller.config)

    def apply_now(self) -> None:
        """Send the widgets' values to the rig; a refused value is shown, never sent."""
        self._apply_timer.stop()
        try:
            config = self.candidate()
        except ValidationError as exc:
            self.show_error(validation_message(exc))
            return
        except ValueError as exc:
            self.show_error(str(exc))
            return
        if self.check(config):
            return
        self.show_error("")
        self.controller.apply_config(config, on_refused=self._refused_by_rig)

    def check(self, config: RigConfig) -> bool:
        """Show the ranges and refusals of ``config`` at the fields; True when it is refused."""
        if not self.checked:
            return False
        mode = self.controller.scan_mode_for(config)
        ranges = limits.field_ranges(config, mode)
        for key, field in self.checked.items():
            field.set_range(ranges.get(key), f"with the other settings as they are ({mode})")
        found = limits.refusals(config, mode, changes(self.controller.config, config).keys)
        by_key = {r.key: r for r in found}
        for key, field in self.checked.items():
            field.set_refusal(by_key.pop(key, None))
        elsewhere = "\n".join(limits.describe(r) for r in by_key.values())
        self.show_error(f"{elsewhere}\n(nothing sent)" if elsewhere else "")
        return bool(found)

    def recheck(self) -> None:
        """Check again after something else changed; a held value that now plays is sent."""
        if not self.checked:
            return
        try:
            config = self.candidate()
        except ValueError:
            return
        held = any(f.refusal is not None for f in self.checked.values())
        if not self.check(config) and held and config != self.controller.config:
            self.schedule_apply()

    def apply_fix(self, fix: limits.Fix) -> None:
        """One click on a fix: the fixed value goes to its field here, or to the rig with this
        dock's values when it belongs to another dock (whose fields then show it)."""
        field = self.checked.get(fix.key)
        if field is not None:
            field.editor.setValue(fix.value)  # sends after the usual short delay
            self.apply_now()
            return
        try:
            config = changed_config(self.candidate(), {fix.key: fix.value})
        except ValueError as exc:
            self.show_error(str(exc))
            return
        if not self.check(config):
            self.controller.apply_config(config, on_refused=self._refused_by_rig)

    def _refused_by_rig(self, message: str) -> None:
        self.show_error(f"The rig refused it (nothing changed): {message}")

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def set_locked(self, locked: bool) -> None:
        for widget, tip in self._locked:
            widget.setEnabled(not locked)
            widget.setToolTip(LOCKED_TIP if locked else tip)

    def _all_inputs(self) -> Iterable[QWidget]:
        """Every input once (a widget may be both watched and locked)."""
        return list(dict.fromkeys([*self._watched, *(w for w, _ in self._locked)]))

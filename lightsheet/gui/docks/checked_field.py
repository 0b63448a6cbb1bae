"""A setting's refusal said where the operator looks: at the field, with the range and a fix.

A ``CheckedField`` wraps one input (a spin box) with the range the rig allows for it with the
other settings as they are, in the field's own units, beside it. A refused value stays as typed,
the input is outlined in red, the reason is written under it and each fix that is known to work
is one click ("lower the volume rate to 1.12/s"). ``ProblemBox`` is that reason-and-fixes part
alone, for refusals that belong to no single field (a mode the scan cannot play).
"""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from lightsheet.app.limits import Fix, Range, Refusal

ERROR_COLOUR = "#d62728"
REFUSED_STYLE = f"QAbstractSpinBox {{ border: 2px solid {ERROR_COLOUR}; border-radius: 3px; }}"
HINT_STYLE = "color: gray; font-size: 8pt"


class WrappedLabel(QLabel):
    """A word-wrapped label that asks for the height its text needs at its width: the dock
    layouts do not ask, and a long message would be cut."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        height = self.heightForWidth(self.width()) if self.text() else 0
        if height != self.minimumHeight():
            self.setMinimumHeight(max(height, 0))


def hint_text(value_range: Range) -> str:
    """The short form shown beside a field: ``≤ 11.25 ms``, or ``0–350 µm`` when both ends
    matter."""
    r = value_range
    if r.high != r.high:  # NaN: nothing fits with the other settings
        return "none fits"
    if r.unit == "µm":
        return f"{number(r.low)}–{number(r.high)} µm"
    unit = "/s" if r.unit == "volumes/s" else f" {r.unit}" if r.unit != "planes" else ""
    return f"≤ {number(r.high)}{unit}"


def number(value: float) -> str:
    """Four significant digits, never an exponent (10000, not 1e+04)."""
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


class ProblemBox(QWidget):
    """Why something was refused, in red, and one button per fix."""

    fix_chosen = Signal(object)  # lightsheet.app.limits.Fix

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = WrappedLabel()
        self.message.setStyleSheet(f"color: {ERROR_COLOUR}")
        self.buttons: list[QPushButton] = []
        self._row = QWidget()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 2)
        self._layout.setSpacing(2)
        self._layout.addWidget(self.message)
        self._layout.addWidget(self._row)
        self.hide()

    def show_problem(self, message: str, fixes: Sequence[Fix] = ()) -> None:
        """Show ``message`` and a button for each fix; an empty message hides the box."""
        self._layout.removeWidget(self._row)
        self._row.deleteLater()
        self._row = QWidget()
        row = QVBoxLayout(self._row)  # one fix per line: the dock is narrow
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.buttons = []
        self.message.setText(message)
        for fix in fixes:
            button = QPushButton(fix.label[:1].upper() + fix.label[1:])
            button.setToolTip(f"Set {fix.key} to {fix.value:g}")
            button.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Fixed)
            button.clicked.connect(lambda _=False, f=fix: self.fix_chosen.emit(f))
            row.addWidget(button)
            self.buttons.append(button)
        self._layout.addWidget(self._row)
        self.setVisible(bool(message))

    def fix_labels(self) -> list[str]:
        return [button.text() for button in self.buttons]


class CheckedField(QWidget):
    """An input, the range it allows beside it, and its refusal (reason and fixes) below it."""

    def __init__(self, editor: QAbstractSpinBox, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.key = key
        self.refusal: Refusal | None = None
        self.range: Range | None = None
        self.hint = QLabel()
        self.hint.setStyleSheet(HINT_STYLE)
        self.hint.setMinimumWidth(70)
        self.problem = ProblemBox()
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(6)
        layout.setVerticalSpacing(2)
        layout.addWidget(editor, 0, 0)
        layout.addWidget(self.hint, 0, 1)
        layout.addWidget(self.problem, 1, 0, 1, 2)
        layout.setColumnStretch(0, 1)

    def value(self) -> float:
        return self.editor.value()

    def set_value(self, value: float) -> None:
        """Show ``value`` without sending it (the dock decides what is sent)."""
        was = self.editor.blockSignals(True)
        try:
            self.editor.setValue(value)
        finally:
            self.editor.blockSignals(was)

    def set_range(self, value_range: Range | None, why: str = "") -> None:
        """The range allowed now; ``why`` (what it depends on) goes into the tooltip."""
        self.range = value_range
        self.hint.setText("" if value_range is None else hint_text(value_range))
        tip = "" if value_range is None else f"Allowed now: {value_range.text()}"
        self.hint.setToolTip(f"{tip}\n{why}".strip())

    def set_refusal(self, refusal: Refusal | None) -> None:
        """Mark the value as refused (it stays as typed) or clear the mark."""
        self.refusal = refusal
        self.editor.setStyleSheet(REFUSED_STYLE if refusal is not None else "")
        if refusal is None:
            self.problem.show_problem("")
        else:
            self.problem.show_problem(refusal.message, refusal.fixes)

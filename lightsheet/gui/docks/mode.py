"""Mode dock: paused, calibration, planar or volumetric; the preview runs in all but paused.

It shows the mode the rig is really in: after a process died nothing runs, so no mode is checked
and the dock says so until the processes are restarted (which brings the operator's mode back).
A mode whose scan the rig would refuse is refused here, before anything changes, with the reason
and its fixes.
"""

from __future__ import annotations

from qtpy.QtWidgets import QButtonGroup, QHBoxLayout, QRadioButton, QWidget

from lightsheet.app import limits
from lightsheet.config import RigConfig
from lightsheet.gui.controller import MODES, SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config
from lightsheet.gui.docks.checked_field import ProblemBox, WrappedLabel
from lightsheet.runtime.supervisor import Fault

DESCRIPTIONS = {
    "paused": "Outputs at their safe values, camera idle.",
    "calibration": "Piezo and z galvo held where the Calibration dock puts them; live frames.",
    "planar": "One plane at the planar z, imaged continuously.",
    "volumetric": "The z sweep of the Scanning dock; the preview shows whole volumes.",
}
SHORTCUTS = {mode: f"Ctrl+{index}" for index, mode in enumerate(MODES, 1)}


class ModeDock(ControlDock):
    """Radio buttons that switch the rig's mode; locked during an acquisition."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__("Mode", controller, parent, scrollable=False)
        self.buttons: dict[str, QRadioButton] = {}
        self.group = QButtonGroup(self)
        row_widget = QWidget()
        row = QHBoxLayout(row_widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        for mode in MODES:
            button = QRadioButton(mode)
            button.setToolTip(f"{DESCRIPTIONS[mode]} ({SHORTCUTS[mode]})")
            self.group.addButton(button)
            self.buttons[mode] = button
            row.addWidget(button)
            button.clicked.connect(lambda _checked=False, m=mode: self.choose(m))
        self.form.addRow(row_widget)
        self.lock_during_acquisition(*self.buttons.values())
        self.description = WrappedLabel()  # said only when the rig is not in the mode shown
        self.description.hide()
        self.add_widget(self.description)
        self.problem = ProblemBox()
        self.problem.fix_chosen.connect(self._apply_fix)
        self.add_widget(self.problem)
        self.stopped: Fault | None = None
        self._asked: str | None = None
        controller.mode_changed.connect(self.show_mode)
        controller.busy_changed.connect(self._on_busy)
        controller.fault.connect(self.show_stopped)
        controller.started.connect(self._on_started)
        controller.error.connect(self._on_error)
        self.show_mode(controller.mode)

    def choose(self, mode: str) -> None:
        """Switch to ``mode`` unless the rig would refuse its scan (then say why; no change)."""
        if mode == self.controller.mode and self.stopped is None:
            return
        config = self.controller.config
        found = limits.refusals(config, mode)
        if found:
            refusal = found[0]
            self._asked = mode
            self.problem.show_problem(f"{mode} refused: {refusal.message}", refusal.fixes)
            self.show_mode(self.controller.mode)
            return
        self.problem.show_problem("")
        self._asked = mode
        self.controller.set_mode(mode)

    def show_mode(self, mode: str) -> None:
        if self.stopped is not None:
            return
        button = self.buttons.get(mode)
        if button is not None:
            button.setChecked(True)
        self.description.hide()
        if mode == self._asked:
            self.problem.show_problem("")
            self._asked = None

    def show_stopped(self, fault: Fault) -> None:
        """Nothing runs after a fault: no mode is checked and the dock says why."""
        self.stopped = fault
        self.group.setExclusive(False)
        for button in self.buttons.values():
            button.setChecked(False)
            button.setEnabled(False)
        self.group.setExclusive(True)
        self.description.setStyleSheet("color: #d62728")
        self.description.show()
        self.description.setText(
            f"Stopped: the {fault.process} process {fault.reason}. Restart the processes "
            f"(Rig menu) to go back to {self.controller.mode}."
        )

    def refresh(self, config: RigConfig | None = None) -> None:
        """A refusal shown here goes as soon as the settings would let the mode run."""
        super().refresh(config)
        asked = self._asked
        shown = asked is not None and not self.problem.isHidden()
        if shown and not limits.refusals(self.controller.config, asked):
            self.problem.show_problem("")
            self._asked = None

    def _on_started(self) -> None:
        self.stopped = None
        self._on_busy(self.controller.busy)
        self.show_mode(self.controller.mode)

    def _on_error(self, text: str) -> None:
        if self._asked is not None and self._asked != self.controller.mode:
            self.problem.show_problem(f"{self._asked} refused: {text}")
            self._asked = None

    def _apply_fix(self, fix: limits.Fix) -> None:
        """The fix goes to the rig, then the mode that was refused is asked for again."""
        mode = self._asked
        self.problem.show_problem("")
        self.controller.apply_config(changed_config(self.controller.config, {fix.key: fix.value}))
        if mode is not None:
            self._asked = mode
            self.controller.set_mode(mode)

    def _on_busy(self, busy: bool) -> None:
        if not self.controller.acquiring:
            for button in self.buttons.values():
                button.setEnabled(not busy and self.stopped is None)

    def set_locked(self, locked: bool) -> None:
        super().set_locked(locked)
        if not locked and self.stopped is not None:
            for button in self.buttons.values():
                button.setEnabled(False)

"""Mode dock: paused, calibration, planar or volumetric; the preview runs in all but paused."""

from __future__ import annotations

from qtpy.QtWidgets import QButtonGroup, QLabel, QRadioButton, QWidget

from lightsheet.gui.controller import MODES, SessionController
from lightsheet.gui.docks.base import ControlDock

DESCRIPTIONS = {
    "paused": "Outputs at their safe values, camera idle.",
    "calibration": "Piezo and z galvo held where the Calibration dock puts them; live frames.",
    "planar": "One plane at the planar z, imaged continuously.",
    "volumetric": "The z sweep of the Scanning dock; the preview shows whole volumes.",
}


class ModeDock(ControlDock):
    """Radio buttons that switch the rig's mode; locked during an acquisition."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__("Mode", controller, parent, scrollable=False)
        self.buttons: dict[str, QRadioButton] = {}
        self.group = QButtonGroup(self)
        for mode in MODES:
            button = QRadioButton(mode)
            button.setToolTip(DESCRIPTIONS[mode])
            self.group.addButton(button)
            self.buttons[mode] = button
            self.form.addRow(button)
            button.clicked.connect(lambda _checked=False, m=mode: self._choose(m))
        self.lock_during_acquisition(*self.buttons.values())
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: gray")
        self.add_widget(self.description)
        controller.mode_changed.connect(self.show_mode)
        controller.busy_changed.connect(self._on_busy)
        self.show_mode(controller.mode)

    def _choose(self, mode: str) -> None:
        if mode != self.controller.mode:
            self.controller.set_mode(mode)

    def show_mode(self, mode: str) -> None:
        button = self.buttons.get(mode)
        if button is not None:
            button.setChecked(True)
        self.description.setText(DESCRIPTIONS.get(mode, ""))

    def _on_busy(self, busy: bool) -> None:
        if not self.controller.acquiring:
            for button in self.buttons.values():
                button.setEnabled(not busy)

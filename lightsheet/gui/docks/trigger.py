"""Trigger dock: whether a run waits for, or announces itself to, a device on a serial port."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QWidget

from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config

BAUDRATES = ("9600", "19200", "38400", "57600", "115200")
MODE_TIPS = {
    "none": "Start at once",
    "wait": "Start when the device on the port says so",
    "send": "Tell the device on the port when the acquisition starts",
}


class TriggerDock(ControlDock):
    """Mode, port, speed and timeout of the serial trigger; locked during an acquisition."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__("Trigger", controller, parent)
        self.mode = QComboBox()
        for index, (mode, tip) in enumerate(MODE_TIPS.items()):
            self.mode.addItem(mode)
            self.mode.setItemData(index, tip, Qt.ToolTipRole)
        self.add_row("Mode", self.mode, "none, wait for the device, or send to it")
        self.port = QLineEdit()
        self.port.setPlaceholderText("/dev/ttyUSB0, COM3 or loop://")
        self.add_row("Port", self.port, "Serial device or pyserial URL")
        self.baudrate = QComboBox()
        self.baudrate.setEditable(True)
        self.baudrate.addItems(BAUDRATES)
        self.add_row("Speed", self.baudrate, "Serial speed (baud)")
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0.1, 3600.0)
        self.timeout.setSuffix(" s")
        self.add_row("Timeout", self.timeout, "How long to wait for the device")
        self.watch(self.mode, self.port, self.baudrate, self.timeout)
        self.baudrate.lineEdit().editingFinished.connect(self.schedule_apply)
        self.lock_during_acquisition(self.mode, self.port, self.baudrate, self.timeout)
        self.refresh()

    def show_config(self, config: RigConfig) -> None:
        trigger = config.trigger
        self.mode.setCurrentText(trigger.mode)
        self.port.setText(trigger.port or "")
        self.baudrate.setCurrentText(str(trigger.baudrate))
        self.timeout.setValue(trigger.timeout_s)

    def config_from_widgets(self, config: RigConfig) -> RigConfig:
        text = self.baudrate.currentText().strip()
        if not text.isdigit():
            raise ValueError(f"trigger.baudrate: expected a whole number (got {text!r})")
        return changed_config(
            config,
            {
                "trigger.mode": self.mode.currentText(),
                "trigger.port": self.port.text().strip() or None,
                "trigger.baudrate": int(text),
                "trigger.timeout_s": self.timeout.value(),
            },
        )

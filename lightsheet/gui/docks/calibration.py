"""Calibration dock: put the sheet in focus at several piezo positions, fit, save the line.

In calibration mode the piezo and the z galvo hold the values set here (latest wins, sent a
moment after the last change); "Add point" records the pair, "Fit" draws the straight line
``galvo = slope x z + offset`` through the points with its residuals, and "Save to config" makes
that line, and the points it came from, the rig's calibration.
"""

from __future__ import annotations

import logging

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config
from lightsheet.scanning import CalibrationError, CalibrationFit, CalibrationPoint, fit_calibration

log = logging.getLogger("lightsheet.gui")

OUTPUT_DELAY_MS = 100
READBACK_MS = 250
NOT_CALIBRATING = "Switch to calibration mode to move the piezo and the galvo from here."


def fit_text(fit: CalibrationFit) -> str:
    """The fit on short lines for the narrow dock (``describe()`` is the one-line form)."""
    return (
        f"galvo = {fit.slope:.6g} V/µm × z {fit.offset:+.6g} V\n"
        f"R² = {fit.r_squared:.6f} over {len(fit.points)} points\n"
        f"residual: RMS {fit.rms_residual_v * 1e3:.3g} mV, max {fit.max_residual_v * 1e3:.3g} mV"
    )


class CalibrationDock(ControlDock):
    """Galvo and piezo set points, the measured points, the fit and its residuals."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__("Calibration", controller, parent)
        self.galvo = QDoubleSpinBox()
        self.galvo.setRange(-10.0, 10.0)
        self.galvo.setDecimals(4)
        self.galvo.setSingleStep(0.01)
        self.galvo.setSuffix(" V")
        self.add_row("z galvo", self.galvo, "z galvo voltage; move it until the sheet is sharp")
        self.piezo = QDoubleSpinBox()
        self.piezo.setRange(-10000.0, 10000.0)
        self.piezo.setDecimals(2)
        self.piezo.setSuffix(" µm")
        self.add_row("Piezo", self.piezo, "Piezo position of the detection objective")
        self.readback = QLabel("–")
        self.add_row("Piezo measured", self.readback, "Position read back from the piezo")
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton("Add point")
        self.fit_button = QPushButton("Fit")
        self.save_button = QPushButton("Save to config")
        self.clear_button = QPushButton("Clear")
        for button in (self.add_button, self.fit_button, self.save_button, self.clear_button):
            row.addWidget(button)
        self.add_widget(buttons)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["piezo µm", "galvo V", "residual mV"])
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(110)
        self.add_widget(self.table)
        self.fit_label = QLabel()  # short lines of its own: no word wrap needed
        self.add_widget(self.fit_label)
        self.points: list[CalibrationPoint] = []
        self.fit: CalibrationFit | None = None
        self.add_button.clicked.connect(self.add_point)
        self.fit_button.clicked.connect(self.fit_points)
        self.save_button.clicked.connect(self.save_fit)
        self.clear_button.clicked.connect(self.clear_points)
        self._outputs_timer = QTimer(self)
        self._outputs_timer.setSingleShot(True)
        self._outputs_timer.setInterval(OUTPUT_DELAY_MS)
        self._outputs_timer.timeout.connect(self.send_outputs)
        self.galvo.valueChanged.connect(self._outputs_timer.start)
        self.piezo.valueChanged.connect(self._outputs_timer.start)
        self._readback_timer = QTimer(self)
        self._readback_timer.setInterval(READBACK_MS)
        self._readback_timer.timeout.connect(self.update_readback)
        self._readback_timer.start()
        self.lock_during_acquisition(self.save_button)
        controller.mode_changed.connect(self.show_mode)
        self.refresh()
        self.show_mode(controller.mode)

    # -- config -------------------------------------------------------------------------------

    def show_config(self, config: RigConfig) -> None:
        calibration = config.scanning.calibration
        if not self.points:
            self.points = [CalibrationPoint(p.piezo_um, p.galvo_v) for p in calibration.points]
            self._show_points()
        if self.fit is None:
            self.fit_label.setText(
                f"in use: galvo = {calibration.z_galvo_slope_v_per_um:.6g} V/µm × z "
                f"+ {calibration.z_galvo_offset_v:.6g} V"
            )

    def show_mode(self, mode: str) -> None:
        calibrating = mode == "calibration"
        for widget in (self.galvo, self.piezo):
            widget.setEnabled(calibrating)
            widget.setToolTip("" if calibrating else NOT_CALIBRATING)
        self.add_button.setEnabled(calibrating)
        self.add_button.setToolTip("Record the current piezo and galvo values as a point")
        if calibrating:
            self.send_outputs()

    # -- actions ------------------------------------------------------------------------------

    def send_outputs(self) -> None:
        """Send the set points to the rig (calibration mode only; latest wins)."""
        self._outputs_timer.stop()
        if self.controller.mode != "calibration":
            return
        galvo, piezo = self.galvo.value(), self.piezo.value()
        session = self.controller.session
        self.controller.submit(lambda: session.set_calibration_outputs(galvo, piezo))

    def update_readback(self) -> None:
        if self.controller.mode != "calibration" or not self.controller.ready:
            return
        try:
            position = self.controller.session.piezo_position_um()
        except Exception as exc:
            log.debug("piezo position unavailable: %s", exc)
            return
        self.readback.setText("–" if position is None else f"{position:.2f} µm")

    def add_point(self) -> None:
        self.points.append(CalibrationPoint(self.piezo.value(), self.galvo.value()))
        self.fit = None
        self._show_points()

    def clear_points(self) -> None:
        self.points = []
        self.fit = None
        self._show_points()
        self.fit_label.setText("")

    def fit_points(self) -> CalibrationFit | None:
        try:
            self.fit = fit_calibration(self.points)
        except CalibrationError as exc:
            self.fit = None
            self.show_error(str(exc))
            return None
        self.show_error("")
        log.info("calibration fit: %s", self.fit.describe())
        self.fit_label.setText(fit_text(self.fit))
        self._show_points()
        return self.fit

    def save_fit(self) -> None:
        """Make the fitted line and its points the rig's calibration (through the config)."""
        fit = self.fit or self.fit_points()
        if fit is None:
            return
        config = changed_config(
            self.controller.config,
            {
                "scanning.calibration": {
                    "z_galvo_slope_v_per_um": fit.slope,
                    "z_galvo_offset_v": fit.offset,
                    "points": [{"piezo_um": p.piezo_um, "galvo_v": p.galvo_v} for p in fit.points],
                }
            },
        )
        self.controller.apply_config(config)
        self.fit_label.setText(f"saved to the config:\n{fit_text(fit)}")

    def _show_points(self) -> None:
        self.table.setRowCount(len(self.points))
        residuals = None
        if self.fit is not None:
            residuals = [p.galvo_v - self.fit.apply(p.piezo_um) for p in self.points]
        for row, point in enumerate(self.points):
            cells = [f"{point.piezo_um:.2f}", f"{point.galvo_v:.4f}"]
            cells.append("" if residuals is None else f"{residuals[row] * 1e3:+.2f}")
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))

"""Camera dock: exposure, binning, trigger mode, and the ROI drawn as a rectangle in the viewer.

The ROI layer is a napari Shapes layer scaled to unbinned sensor pixels, so the rectangle an
operator draws over the preview reads straight as the config's roi (x, y, width, height); the
preview sits at the same place in micrometres whatever ROI and binning it was taken with.
"""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel
from napari.layers import Shapes
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lightsheet.app.limits import EXPOSURE
from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config

ROI_LAYER = "ROI"


def pair(first: QWidget, second: QWidget) -> QWidget:
    """Two inputs side by side in one form row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(first)
    layout.addWidget(second)
    return row


def roi_rectangle(box: tuple[int, int, int, int]) -> np.ndarray:
    """napari rectangle corners (y, x) of an (x, y, width, height) box."""
    x, y, width, height = box
    return np.array([[y, x], [y, x + width], [y + height, x + width], [y + height, x]], float)


def box_from_rectangle(
    corners: np.ndarray, sensor_width: int, sensor_height: int, binning: int
) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a drawn rectangle, on whole pixels, inside the sensor."""
    ys, xs = corners[:, -2], corners[:, -1]
    x0 = int(np.clip(round(xs.min()), 0, sensor_width - binning))
    y0 = int(np.clip(round(ys.min()), 0, sensor_height - binning))
    x1 = int(np.clip(round(xs.max()), x0 + binning, sensor_width))
    y1 = int(np.clip(round(ys.max()), y0 + binning, sensor_height))
    return x0, y0, x1 - x0, y1 - y0


class CameraDock(ControlDock):
    """Exposure, binning, trigger mode and ROI; all locked during an acquisition."""

    def __init__(
        self, controller: SessionController, viewer: ViewerModel, parent: QWidget | None = None
    ) -> None:
        super().__init__("Camera", controller, parent)
        self.viewer = viewer
        self.exposure = QDoubleSpinBox()
        self.exposure.setRange(0.01, 10000.0)
        self.exposure.setDecimals(2)
        self.exposure.setSuffix(" ms")
        self.add_checked_row("Exposure", EXPOSURE, self.exposure, "Exposure time of each frame")
        self.binning = QComboBox()
        self.binning.addItems(["1", "2", "4"])
        self.add_row("Binning", self.binning, "Pixels combined along each sensor axis")
        self.trigger_mode = QComboBox()
        self.trigger_mode.addItems(["internal", "external"])
        self.add_row(
            "Trigger",
            self.trigger_mode,
            "internal: the camera free-runs; external: the DAQ's pulses start every frame",
        )
        self.roi = {name: QSpinBox() for name in ("x", "y", "width", "height")}
        for name, box in self.roi.items():
            box.setRange(0 if name in ("x", "y") else 1, 8192)
            box.setPrefix(f"{name[0]} ")
            box.setToolTip(f"ROI {name}: region of interest, unbinned sensor pixels")
        self.add_row("ROI from", pair(self.roi["x"], self.roi["y"]), "Top-left corner (px)")
        self.add_row("ROI size", pair(self.roi["width"], self.roi["height"]), "Width × height (px)")
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.draw_button = QPushButton("Draw ROI")
        self.draw_button.setToolTip("Draw a rectangle over the preview; it becomes the ROI")
        self.draw_button.clicked.connect(self.start_drawing)
        self.full_button = QPushButton("Full sensor")
        self.full_button.setToolTip("Read out the whole sensor")
        self.full_button.clicked.connect(self.full_sensor)
        row.addWidget(self.draw_button)
        row.addWidget(self.full_button)
        self.add_widget(buttons)
        self.watch(self.exposure, self.binning, self.trigger_mode, *self.roi.values())
        self.lock_during_acquisition(
            self.exposure,
            self.binning,
            self.trigger_mode,
            *self.roi.values(),
            self.draw_button,
            self.full_button,
        )
        self.roi_layer = self._make_roi_layer()
        self._showing = False
        self._full_sensor = False
        self.refresh()

    # -- config -------------------------------------------------------------------------------

    def show_config(self, config: RigConfig) -> None:
        camera = config.camera
        self.exposure.setValue(camera.exposure_ms)
        self.binning.setCurrentText(str(camera.binning))
        self.trigger_mode.setCurrentText(camera.trigger_mode)
        box = camera.roi_box
        for name, value in zip(("x", "y", "width", "height"), box, strict=True):
            self.roi[name].setValue(value)
        self._show_roi(config)

    def config_from_widgets(self, config: RigConfig) -> RigConfig:
        camera = config.camera
        x, y, width, height = (self.roi[n].value() for n in ("x", "y", "width", "height"))
        # The sensor edge stays "null" so the config keeps meaning "to the edge".
        full_width = x == 0 and width == camera.sensor_width
        full_height = y == 0 and height == camera.sensor_height
        edge_width = full_width and (camera.roi.width is None or self._full_sensor)
        edge_height = full_height and (camera.roi.height is None or self._full_sensor)
        return changed_config(
            config,
            {
                "camera.exposure_ms": self.exposure.value(),
                "camera.binning": int(self.binning.currentText()),
                "camera.trigger_mode": self.trigger_mode.currentText(),
                "camera.roi": {
                    "x": x,
                    "y": y,
                    "width": None if edge_width else width,
                    "height": None if edge_height else height,
                },
            },
        )

    # -- ROI ----------------------------------------------------------------------------------

    def start_drawing(self) -> None:
        """Select the ROI layer in rectangle mode: the next rectangle drawn is the ROI."""
        layer = self._ensure_layer()
        self.viewer.layers.selection.active = layer
        layer.mode = "add_rectangle"

    def full_sensor(self) -> None:
        camera = self.controller.config.camera
        values = {"x": 0, "y": 0, "width": camera.sensor_width, "height": camera.sensor_height}
        for name, value in values.items():
            self.roi[name].setValue(value)
        self._full_sensor = True
        self.schedule_apply()

    def apply_now(self) -> None:
        super().apply_now()
        self._full_sensor = False

    def _make_roi_layer(self) -> Shapes:
        camera = self.controller.config.camera
        pixel = camera.pixel_size_um
        layer = self.viewer.add_shapes(
            name=ROI_LAYER,
            ndim=2,
            scale=(pixel, pixel),
            edge_color="yellow",
            face_color="transparent",
            # In sensor pixels: a thin line whatever the sensor's size.
            edge_width=max(camera.sensor_width, camera.sensor_height) / 300,
            opacity=0.8,
        )
        if hasattr(layer, "units"):  # consistent with the preview, so the scale bar has a unit
            layer.units = "um"
        layer.events.data.connect(self._on_drawn)
        return layer

    def _ensure_layer(self) -> Shapes:
        if self.roi_layer not in self.viewer.layers:
            self.roi_layer = self._make_roi_layer()
            self._show_roi(self.controller.config)
        return self.roi_layer

    def _show_roi(self, config: RigConfig) -> None:
        layer = self.roi_layer
        if layer not in self.viewer.layers:
            return
        pixel = config.camera.pixel_size_um
        self._showing = True
        try:
            layer.scale = (pixel, pixel)
            layer.data = [roi_rectangle(config.camera.roi_box)]
            layer.shape_type = ["rectangle"]
        finally:
            self._showing = False

    def _on_drawn(self, event: object = None) -> None:
        if self._showing or getattr(event, "action", "added") not in ("added", "changed"):
            return
        layer = self.roi_layer
        if self.controller.acquiring:
            self._show_roi(self.controller.config)
            return
        if len(layer.data) == 0:
            return
        camera = self.controller.config.camera
        box = box_from_rectangle(
            np.asarray(layer.data[-1]), camera.sensor_width, camera.sensor_height, camera.binning
        )
        for name, value in zip(("x", "y", "width", "height"), box, strict=True):
            self.roi[name].blockSignals(True)
            self.roi[name].setValue(value)
            self.roi[name].blockSignals(False)
        if len(layer.data) > 1:  # keep only the newest rectangle
            self._showing = True
            try:
                layer.data = [np.asarray(layer.data[-1])]
                layer.shape_type = ["rectangle"]
            finally:
                self._showing = False
        layer.mode = "pan_zoom" if layer.mode == "add_rectangle" else layer.mode
        self.schedule_apply()

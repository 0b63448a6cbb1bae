"""What a live processor's results look like in the window: an image result is its own napari
layer beside the raw preview, a number (the focus metric) a live plot.

Both are fed by the processing dock's timer from ``Session.processing`` (the newest result,
latest-only, and the recent values of a number); neither ever waits for the processor.
"""

from __future__ import annotations

import math

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image
from qtpy.QtCore import QPointF, QSize, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

from lightsheet.gui.preview import auto_limits

RESULT_LAYER = "processed"
RESULT_COLORMAP = "inferno"
GAP = 0.05  # between the preview and the result beside it, in widths of the frame
PLOT_MARGIN = 6
LABEL_WIDTH = 64


class ResultLayer:
    """The napari layer of image results: created with the first one, then changed in place."""

    def __init__(self, viewer: ViewerModel) -> None:
        self.viewer = viewer
        self.layer: Image | None = None
        self.shown = 0  # results shown, for tests and the dock's counter

    def show(self, image: np.ndarray, scale: tuple[float, float] | None = None,
             origin: tuple[float, float] = (0.0, 0.0)) -> None:  # fmt: skip
        """Show a (y, x) image (of a larger result, its first plane) to the right of the
        preview; ``scale`` (µm per pixel) and the preview's ``origin`` when it has the frame's
        shape."""
        while image.ndim > 2:
            image = image[0]
        if image.dtype.kind == "b":
            image = image.astype(np.uint8)
        layer = self.layer
        if layer is None or layer not in self.viewer.layers:
            layer = self.viewer.add_image(image, name=RESULT_LAYER, colormap=RESULT_COLORMAP)
            self.layer = layer
            layer.contrast_limits = auto_limits(image)
            self._place(layer, image.shape, scale, origin)
            self.viewer.reset_view()  # preview and result both in sight
        else:
            reshaped = layer.data.shape != image.shape or layer.data.dtype != image.dtype
            layer.data = image
            if reshaped:
                layer.reset_contrast_limits_range()
                layer.contrast_limits = auto_limits(image)
                self._place(layer, image.shape, scale, origin)
        self.shown += 1

    @staticmethod
    def _place(layer: Image, shape: tuple[int, ...], scale: tuple[float, float] | None,
               origin: tuple[float, float]) -> None:  # fmt: skip
        step = scale or (1.0, 1.0)
        layer.scale = step
        layer.translate = (origin[0], origin[1] + shape[-1] * step[1] * (1 + GAP))

    def remove(self) -> None:
        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        self.layer = None


class MetricPlot(QWidget):
    """A number's recent values as a line, with its range: the focus metric while focusing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: list[float] = []
        self.title = "focus (normalised variance)"
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setMinimumHeight(120)

    def sizeHint(self) -> QSize:
        return QSize(300, 130)

    def set_values(self, values: list[float], title: str | None = None) -> None:
        self.values = [v for v in values if math.isfinite(v)]
        if title is not None:
            self.title = title
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor("#1e1e1e"))
        painter.setPen(QColor("#c8c8c8"))
        top = PLOT_MARGIN + 12
        painter.drawText(PLOT_MARGIN, PLOT_MARGIN + 10, self.title)
        values = self.values
        if len(values) < 2:
            painter.drawText(PLOT_MARGIN, top + 20, "no values yet")
            painter.end()
            return
        low, high = min(values), max(values)
        span = high - low or 1.0
        painter.drawText(PLOT_MARGIN, top + 10, f"{high:.4g}")
        painter.drawText(PLOT_MARGIN, self.height() - PLOT_MARGIN, f"{low:.4g}")
        left, width = LABEL_WIDTH, max(self.width() - LABEL_WIDTH - PLOT_MARGIN, 1)
        height = max(self.height() - top - 2 * PLOT_MARGIN, 1)
        step = width / (len(values) - 1)
        points = QPolygonF([
            QPointF(left + i * step, top + (1 - (v - low) / span) * height)
            for i, v in enumerate(values)
        ])  # fmt: skip
        painter.setPen(QPen(QColor("#ff7f0e"), 1.5, Qt.SolidLine))
        painter.drawPolyline(points)
        painter.end()

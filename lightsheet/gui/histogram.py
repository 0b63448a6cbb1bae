"""The histogram of the image shown, with the contrast limits drawn over it.

Computed from a strided sample of the preview (as the auto contrast is), a few times a second at
most, and drawn with QPainter: counts on a log scale (a light-sheet image is mostly background),
the low limit in blue and the high one in red, so an operator sees what the display range cuts.
"""

from __future__ import annotations

import time

import numpy as np
from qtpy.QtCore import QPointF, QRectF, QSize, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

BINS = 96
SAMPLES = 65536
MIN_INTERVAL_S = 0.25
LOW_COLOUR, HIGH_COLOUR = QColor("#1f77b4"), QColor("#d62728")


def histogram(image: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, float, float]:
    """(counts, lowest, highest) of a strided sample of ``image``."""
    flat = np.asarray(image).reshape(-1)
    sample = flat[:: max(1, flat.size // SAMPLES)]
    if sample.size == 0:
        return np.zeros(bins, dtype=np.int64), 0.0, 1.0
    low, high = float(sample.min()), float(sample.max())
    if high <= low:
        high = low + 1.0
    counts, _ = np.histogram(sample, bins=bins, range=(low, high))
    return counts, low, high


class HistogramWidget(QWidget):
    """Bars of the image's histogram and two lines at the contrast limits."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts = np.zeros(BINS, dtype=np.int64)
        self.data_range = (0.0, 1.0)
        self.limits = (0.0, 1.0)
        self._last = 0.0
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip("Histogram of the image shown (log scale); lines: the display range")

    def sizeHint(self) -> QSize:
        return QSize(260, 80)

    def set_image(self, image: np.ndarray, force: bool = False) -> bool:
        """Recompute from ``image``; skipped (False) when the last one is too recent."""
        now = time.monotonic()
        if not force and now - self._last < MIN_INTERVAL_S:
            return False
        self._last = now
        self.counts, low, high = histogram(image)
        self.data_range = (low, high)
        self.update()
        return True

    def set_limits(self, low: float, high: float) -> None:
        self.limits = (float(low), float(high))
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing, False)
        area = QRectF(self.rect()).adjusted(2, 2, -2, -14)
        painter.fillRect(self.rect(), self.palette().base())
        low, high = min(self.data_range[0], self.limits[0]), max(self.data_range[1], self.limits[1])
        span = max(high - low, 1e-9)
        heights = np.log1p(self.counts.astype(float))
        top = heights.max() if heights.size and heights.max() > 0 else 1.0
        bin_width = (self.data_range[1] - self.data_range[0]) / max(len(heights), 1)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(120, 120, 120))
        for index, h in enumerate(heights):
            left = self.data_range[0] + index * bin_width
            x0 = area.left() + (left - low) / span * area.width()
            x1 = area.left() + (left + bin_width - low) / span * area.width()
            bar = h / top * area.height()
            painter.drawRect(QRectF(x0, area.bottom() - bar, max(x1 - x0, 1.0), bar))
        for value, colour in ((self.limits[0], LOW_COLOUR), (self.limits[1], HIGH_COLOUR)):
            x = area.left() + (value - low) / span * area.width()
            painter.setPen(QPen(colour, 2))
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(area.left(), area.bottom() + 1, area.width(), 12),
                         Qt.AlignLeft, f"{low:.0f}")  # fmt: skip
        painter.drawText(QRectF(area.left(), area.bottom() + 1, area.width(), 12),
                         Qt.AlignRight, f"{high:.0f}")  # fmt: skip
        painter.end()

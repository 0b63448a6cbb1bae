"""A small QPainter plot of one waveform period, one lane per channel, exposures shaded.

Enough for an operator to see that the piezo ramps, the galvo follows, and every exposure sits
on the ramp and not on the flyback; no plotting library needed. Traces are reduced to a min/max
pair per pixel column, so a period of 10^5 samples draws as fast as one of 100.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, QRectF, QSize, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

from lightsheet.scanning import WaveformSet

TRACE_COLOURS = {
    "piezo": "#1f77b4",
    "z_galvo": "#ff7f0e",
    "lateral_galvo": "#2ca02c",
    "laser_blanking": "#9467bd",
    "camera_trigger": "#d62728",
}
TRACE_LABELS = {
    "piezo": "piezo",
    "z_galvo": "z galvo",
    "lateral_galvo": "lateral",
    "laser_blanking": "laser",
    "camera_trigger": "trigger",
}
LABEL_WIDTH = 78
FOOTER = 16
EXPOSURE_SHADE = QColor(255, 200, 0, 90)


def column_envelope(samples: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of ``samples`` in each of ``columns`` equal slices (fewer if too short)."""
    columns = max(1, min(columns, samples.size))
    edges = np.linspace(0, samples.size, columns + 1).astype(int)
    low = np.minimum.reduceat(samples, edges[:-1])
    high = np.maximum.reduceat(samples, edges[:-1])
    return low, high


class WaveformPlot(QWidget):
    """Draws a WaveformSet, or the reason there is none (the scan's settings are refused)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.waveforms: WaveformSet | None = None
        self.message = "no waveforms"
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumHeight(120)

    def sizeHint(self) -> QSize:
        return QSize(300, 220)

    def set_waveforms(self, waveforms: WaveformSet | None, message: str = "") -> None:
        self.waveforms = waveforms
        self.message = message
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.fillRect(self.rect(), self.palette().base())
        try:
            if self.waveforms is None:
                painter.setPen(QColor("#d62728") if self.message else self.palette().text().color())
                painter.drawText(
                    QRectF(self.rect()).adjusted(6, 6, -6, -6),
                    int(Qt.AlignCenter | Qt.TextWordWrap),
                    self.message or "no waveforms",
                )
                return
            self._draw(painter, self.waveforms)
        finally:
            painter.end()

    def _draw(self, painter: QPainter, waveforms: WaveformSet) -> None:
        names = [n for n in TRACE_COLOURS if n in waveforms.channels]
        width = max(10, self.width() - LABEL_WIDTH - 8)
        lane = (self.height() - FOOTER - 2) / max(len(names), 1)
        n = waveforms.n_samples
        left = float(LABEL_WIDTH)

        def x_of(sample: float) -> float:
            return left + sample / n * width

        for start in waveforms.trigger_samples:  # exposure windows
            x0 = x_of(float(start))
            x1 = x_of(float(start + waveforms.exposure_samples))
            painter.fillRect(QRectF(x0, 0, max(x1 - x0, 2.0), lane * len(names)), EXPOSURE_SHADE)
        text = self.palette().text().color()
        for index, name in enumerate(names):
            top = index * lane
            samples = np.asarray(waveforms.channels[name], dtype=np.float64)
            lo_v, hi_v = float(samples.min()), float(samples.max())
            span = hi_v - lo_v if hi_v > lo_v else 1.0
            low, high = column_envelope(samples, int(width))
            columns = low.size

            def y_of(
                value: np.ndarray, top: float = top, lo_v: float = lo_v, span: float = span
            ) -> np.ndarray:
                return top + 4 + (1 - (value - lo_v) / span) * (lane - 8)

            ys_low, ys_high = y_of(low), y_of(high)
            polygon = QPolygonF()
            for column in range(columns):
                x = left + (column + 0.5) / columns * width
                polygon.append(QPointF(x, float(ys_high[column])))
                polygon.append(QPointF(x, float(ys_low[column])))
            painter.setPen(QPen(QColor(TRACE_COLOURS[name]), 1.2))
            painter.drawPolyline(polygon)
            painter.setPen(text)
            painter.drawText(
                QRectF(2, top, LABEL_WIDTH - 4, lane / 2),
                int(Qt.AlignLeft | Qt.AlignBottom),
                TRACE_LABELS[name],
            )
            painter.setPen(QColor("gray"))
            painter.drawText(
                QRectF(2, top + lane / 2, LABEL_WIDTH - 4, lane / 2),
                int(Qt.AlignLeft | Qt.AlignTop),
                f"{lo_v:.3g}…{hi_v:.3g} V",
            )
        painter.setPen(text)
        period_ms = waveforms.period_s() * 1e3
        painter.drawText(
            QRectF(2, self.height() - FOOTER, self.width() - 4, FOOTER),
            int(Qt.AlignCenter),
            f"one period, {period_ms:.4g} ms; exposures shaded ({waveforms.frames_per_period})",
        )

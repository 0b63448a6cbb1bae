"""Dark-frame dock: average N frames with the laser blanked, look at it, subtract it.

The session takes the frames and keeps the dark frame for the dispatcher, which subtracts it
from every frame while subtraction is on; the dock only asks and shows. The dark frame is shown
in its own (hidden until asked) layer so the preview layer is never replaced.
"""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QCheckBox, QLabel, QPushButton, QSpinBox, QWidget

from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock

DARK_LAYER = "dark frame"


class DarkDock(ControlDock):
    """Acquire (N frames averaged), show, and enable subtraction of the dark frame."""

    subtraction_changed = Signal(bool)  # the dispatcher took it: from the next frame on

    def __init__(
        self, controller: SessionController, viewer: ViewerModel, parent: QWidget | None = None
    ) -> None:
        super().__init__("Dark", controller, parent)
        self.viewer = viewer
        self.frames = QSpinBox()
        self.frames.setRange(1, 1000)
        self.frames.setValue(16)
        self.add_row("Frames", self.frames, "Frames averaged into the dark frame")
        self.acquire_button = QPushButton("Acquire dark frame")
        self.acquire_button.setToolTip("Blank the laser and average the frames")
        self.acquire_button.clicked.connect(self.acquire)
        self.add_widget(self.acquire_button)
        self.summary = QLabel("no dark frame yet")
        self.summary.setWordWrap(True)
        self.add_widget(self.summary)
        self.show_box = QCheckBox("Show in the viewer")
        self.show_box.toggled.connect(self.show_dark)
        self.add_widget(self.show_box)
        self.subtract = QCheckBox("Subtract from every frame")
        self.subtract.toggled.connect(self.set_subtraction)
        self.add_widget(self.subtract)
        self.dark: np.ndarray | None = None
        self._update_enabled()
        self.lock_during_acquisition(self.frames, self.acquire_button, self.subtract)

    def acquire(self) -> None:
        frames = self.frames.value()
        session = self.controller.session
        self.acquire_button.setEnabled(False)
        self.summary.setText(f"averaging {frames} frame(s)…")
        self.controller.submit(lambda: session.acquire_dark(frames), self._acquired, self._refused)

    def _acquired(self, dark: np.ndarray) -> None:
        self.dark = np.asarray(dark)
        self.acquire_button.setEnabled(not self.controller.acquiring)
        self.summary.setText(
            f"{self.dark.shape[1]} × {self.dark.shape[0]} px, mean {self.dark.mean():.1f}, "
            f"range {self.dark.min():.0f}–{self.dark.max():.0f} counts"
        )
        self.show_error("")
        self._update_enabled()
        if self.show_box.isChecked():
            self.show_dark(True)

    def _refused(self, exc: BaseException) -> None:
        self.acquire_button.setEnabled(not self.controller.acquiring)
        self.summary.setText("no dark frame" if self.dark is None else self.summary.text())
        self.show_error(f"dark frame: {exc}")

    def show_dark(self, visible: bool) -> None:
        if self.dark is None:
            return
        if DARK_LAYER in self.viewer.layers:
            layer = self.viewer.layers[DARK_LAYER]
            layer.data = self.dark
        else:
            preview = self.viewer.layers["preview"] if "preview" in self.viewer.layers else None  # noqa: SIM401
            scale = tuple(preview.scale[-2:]) if preview is not None else (1.0, 1.0)
            translate = tuple(preview.translate[-2:]) if preview is not None else (0.0, 0.0)
            layer = self.viewer.add_image(
                self.dark, name=DARK_LAYER, scale=scale, translate=translate, colormap="magma"
            )
            if hasattr(layer, "units"):
                layer.units = "um"
        layer.visible = visible

    def set_subtraction(self, enabled: bool) -> None:
        session = self.controller.session
        self.controller.submit(
            lambda: session.set_dark_subtraction(enabled),
            lambda _: self.subtraction_changed.emit(enabled),
            lambda exc: self._subtraction_refused(exc, enabled),
        )

    def _subtraction_refused(self, exc: BaseException, enabled: bool) -> None:
        self.show_error(f"subtraction: {exc}")
        self.subtract.blockSignals(True)
        self.subtract.setChecked(not enabled)
        self.subtract.blockSignals(False)

    def _update_enabled(self) -> None:
        has_dark = self.dark is not None
        self.show_box.setEnabled(has_dark)
        self.subtract.setEnabled(has_dark and not self.controller.acquiring)
        tip = "" if has_dark else "Acquire a dark frame first"
        self.show_box.setToolTip(tip)

    def set_locked(self, locked: bool) -> None:
        super().set_locked(locked)
        if not locked:
            self._update_enabled()

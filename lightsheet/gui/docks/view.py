"""View dock: how the preview is shown (contrast and its histogram, colormap, projection, 3D).

Contrast and colormap are the config's viewer section, so a saved config remembers them; they
never reach the processes and so stay adjustable during an acquisition. Projection and 3D are
only ways of looking and are not saved.
"""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QPushButton, QSpinBox, QWidget

from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config
from lightsheet.gui.histogram import HistogramWidget
from lightsheet.gui.preview import PreviewUpdater

CONTRAST_LABELS = {
    "auto_once": "auto once",
    "auto": "auto, continuous",
    "manual": "manual",
}
COLORMAPS = ("gray", "inferno", "magma", "viridis", "green", "magenta", "cyan")


class ViewDock(ControlDock):
    """Contrast mode and limits, colormap, maximum projection and 3D view of the preview."""

    def __init__(
        self,
        controller: SessionController,
        preview: PreviewUpdater,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("View", controller, parent)
        self.preview = preview
        self.contrast = QComboBox()
        for mode, label in CONTRAST_LABELS.items():
            self.contrast.addItem(label, mode)
        self.add_row("Contrast", self.contrast, "How the display range follows the images")
        limits = QWidget()
        row = QHBoxLayout(limits)
        row.setContentsMargins(0, 0, 0, 0)
        self.low = QSpinBox()
        self.high = QSpinBox()
        for box in (self.low, self.high):
            box.setRange(0, 65535)
            box.setKeyboardTracking(False)
            row.addWidget(box)
        self.add_row("Range", limits, "Display range in counts (manual contrast)")
        self.histogram = HistogramWidget()
        self.form.addRow(self.histogram)
        self.auto_button = QPushButton("Auto contrast now")
        self.auto_button.setToolTip("Set the range from the next image")
        self.auto_button.clicked.connect(lambda: preview.request_auto_contrast())
        self.add_widget(self.auto_button)
        self.colormap = QComboBox()
        self.colormap.setEditable(True)
        self.colormap.addItems(COLORMAPS)
        self.add_row("Colormap", self.colormap, "napari colormap of the preview")
        self.max_projection = QCheckBox("Maximum projection over z")
        self.max_projection.toggled.connect(preview.set_max_projection)
        self.add_widget(self.max_projection)
        self.three_d = QCheckBox("3D view")
        self.three_d.toggled.connect(preview.set_3d)
        self.add_widget(self.three_d)
        self.watch(self.contrast, self.low, self.high, self.colormap)
        self.contrast.currentIndexChanged.connect(self._enable_limits)
        preview.layer.events.contrast_limits.connect(self._show_layer_limits)
        preview.image_shown.connect(lambda _seq: self.histogram.set_image(preview.layer.data))
        preview.viewer.dims.events.ndisplay.connect(
            lambda event: self._set_checked(self.three_d, event.value == 3)
        )
        self.refresh()
        self._enable_limits()
        self._show_layer_limits()

    def show_config(self, config: RigConfig) -> None:
        viewer = config.viewer
        self.contrast.setCurrentIndex(self.contrast.findData(viewer.contrast))
        if viewer.contrast_limits is not None:
            self.low.setValue(viewer.contrast_limits[0])
            self.high.setValue(viewer.contrast_limits[1])
        self.colormap.setCurrentText(viewer.colormap)
        self._enable_limits()

    def config_from_widgets(self, config: RigConfig) -> RigConfig:
        mode = self.contrast.currentData()
        limits = config.viewer.contrast_limits
        if mode == "manual":
            limits = (self.low.value(), self.high.value())
        return changed_config(
            config,
            {
                "viewer.contrast": mode,
                "viewer.contrast_limits": limits,
                "viewer.colormap": self.colormap.currentText().strip() or "gray",
            },
        )

    def _enable_limits(self, *_: object) -> None:
        manual = self.contrast.currentData() == "manual"
        for box in (self.low, self.high):
            box.setEnabled(manual)
            box.setToolTip("" if manual else "Choose manual contrast to set the range")

    def _show_layer_limits(self, event: object = None) -> None:
        low, high = self.preview.layer.contrast_limits
        self.histogram.set_limits(low, high)
        if self.contrast.currentData() == "manual":
            return
        for box, value in ((self.low, low), (self.high, high)):
            self._set_value(box, round(value))

    @staticmethod
    def _set_value(box: QSpinBox, value: int) -> None:
        box.blockSignals(True)
        box.setValue(value)
        box.blockSignals(False)

    @staticmethod
    def _set_checked(box: QCheckBox, checked: bool) -> None:
        box.blockSignals(True)
        box.setChecked(checked)
        box.blockSignals(False)

"""What the canvas tells the operator beyond the image: where the slice is, what is under the
cursor, how large things are, and whether the picture is still live.

- A scale bar in micrometres (the layers carry their units).
- A note in the canvas's top-left corner: the z of the slice shown, in micrometres, with the
  plane number; and, when the image is not live (a process died, the rig is paused), a line
  saying so, in orange after a fault.
- ``CursorReadout``: the position under the mouse in micrometres (x, y and the slice's z), the
  pixel there and its value, as a label for the status bar.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image
from qtpy.QtWidgets import QLabel, QWidget

log = logging.getLogger("lightsheet.gui")

LIVE_COLOUR = (1.0, 1.0, 1.0, 1.0)
STALE_COLOUR = (1.0, 0.6, 0.1, 1.0)


def _overlays(viewer: ViewerModel):
    """napari 0.9 keeps the canvas overlays under viewer.canvas; older ones on the viewer."""
    canvas = getattr(viewer, "canvas", None)
    return getattr(canvas, "overlays", None)


def scale_bar(viewer: ViewerModel):
    overlays = _overlays(viewer)
    return overlays.scale_bar if overlays is not None else viewer.scale_bar


def text_overlay(viewer: ViewerModel):
    overlays = _overlays(viewer)
    return overlays.text if overlays is not None else viewer.text_overlay


def z_axis(viewer: ViewerModel) -> int:
    """The dims axis of z: third from the end ((t,) z, y, x)."""
    return viewer.dims.ndim - 3


class CanvasNotes:
    """The scale bar and the top-left note (z of the slice, stale marker)."""

    def __init__(self, viewer: ViewerModel, preview: Image) -> None:
        self.viewer = viewer
        self.preview = preview
        self.stale: str | None = None
        self._fault = False
        bar = scale_bar(viewer)
        bar.visible = True
        bar.box = True
        bar.colored = False
        note = text_overlay(viewer)
        note.position = "top_left"
        note.font_size = 10
        note.visible = True
        viewer.dims.events.current_step.connect(self.update)
        viewer.dims.events.ndisplay.connect(self.update)

    def set_stale(self, why: str | None, fault: bool = False) -> None:
        """Mark the image as not live (``why``), or live again (None); after a fault the note
        says how old the image is at most."""
        if why is not None and fault:
            why = f"{why}\nlast image from {datetime.now().strftime('%H:%M:%S')} or before"
        self.stale = why
        self._fault = fault and why is not None
        self.update()

    def z_text(self) -> str:
        """``z 12.50 µm · plane 3 of 9`` for the slice shown, or "" when there is no z axis."""
        dims = self.viewer.dims
        axis = z_axis(self.viewer)
        if axis < 0 or dims.ndisplay == 3:
            return ""
        planes = int(dims.nsteps[axis])
        if planes <= 1:
            return ""
        step = int(dims.current_step[axis])
        z = float(dims.point[axis])
        return f"z {z:.2f} µm · plane {step + 1} of {planes}"

    def update(self, event: object = None) -> None:
        note = text_overlay(self.viewer)
        lines = [line for line in (self.z_text(), self.stale or "") if line]
        note.text = "\n".join(lines)
        note.color = STALE_COLOUR if self._fault else LIVE_COLOUR


class CursorReadout(QLabel):
    """Position (µm), pixel and value under the mouse, for the status bar."""

    def __init__(self, viewer: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.setMinimumWidth(260)
        self.setToolTip("Under the cursor: position in µm, pixel (column, row) and its value")
        viewer.cursor.events.position.connect(self.update_text)
        viewer.dims.events.current_step.connect(self.update_text)
        viewer.dims.events.ndisplay.connect(self.update_text)

    def update_text(self, event: object = None) -> None:
        self.setText(self.describe(tuple(self.viewer.cursor.position)))

    def describe(self, position: tuple[float, ...]) -> str:
        """The readout for a world ``position`` ((t,) z, y, x or y, x in µm)."""
        layer = self._top_image()
        if layer is None or len(position) < 2:
            return ""
        y, x = position[-2], position[-1]
        parts = [f"x {x:.1f} µm", f"y {y:.1f} µm"]
        if len(position) >= 3 and self.viewer.dims.nsteps[z_axis(self.viewer)] > 1:
            parts.append(f"z {position[z_axis(self.viewer)]:.2f} µm")
        if self.viewer.dims.ndisplay == 3:
            return " · ".join(parts)
        try:
            value = layer.get_value(position, world=True)
            data = np.asarray(layer.world_to_data(position))
        except (IndexError, ValueError) as exc:  # a layer mid-reshape: the next move updates
            log.debug("no value under the cursor: %s", exc)
            return " · ".join(parts)
        if value is None:
            return " · ".join(parts) + " · outside the image"
        column, row = round(float(data[-1])), round(float(data[-2]))
        parts.append(f"px ({column}, {row})")
        parts.append(f"{value} counts")
        return " · ".join(parts)

    def _top_image(self) -> Image | None:
        for layer in reversed(list(self.viewer.layers)):
            if isinstance(layer, Image) and layer.visible:
                return layer
        return None

"""The live preview: one napari Image layer fed from the latest-only preview buffer.

A timer polls ``Session.latest_preview()`` at about the viewer's rate and changes the layer only
when a new image was published, in place (``layer.data = ...``) so napari keeps the layer's
controls, the z slider and the camera. Frames are shown as (1, y, x) and volumes as (z, y, x), so
switching between planar and volumetric never re-creates the layer. The axes are in micrometres
(pixel size times binning, the z step of the scan, z from the first imaged plane's position), which
makes the 3D view true to scale and the z of a slice the z the piezo was at. A new volume shape
opens on its middle plane. An image that is no longer live (a process died) is dimmed until the
next one arrives.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image, Shapes
from qtpy.QtCore import QEvent, QObject, QTimer, Signal
from qtpy.QtWidgets import QWidget

from lightsheet.config import RigConfig, ViewerConfig
from lightsheet.gui.controller import SessionController

log = logging.getLogger("lightsheet.gui")

POLL_MS = 33  # about 30 Hz: the viewer cannot show more, the buffer skips what we miss
# Drawing the canvas happens in the event loop. Where it is slow (software OpenGL, a remote
# desktop) new images are shown less often, so drawing takes at most 1/RENDER_SHARE of the time
# and the rest of the window stays responsive.
RENDER_SHARE = 3.0
RENDER_COST_SMOOTHING = 0.3
LATE_TICK_FACTOR = 1.5  # a tick this many intervals after the previous one came late
CONTRAST_SAMPLES = 65536  # pixels looked at for automatic contrast (a stride over the image)
CONTRAST_PERCENTILES = (0.5, 99.8)
UINT16_RANGE = (0, 65535)
CONTRAST_MODES = ("auto_once", "auto", "manual")
STALE_OPACITY = 0.45
VIEW_3D_ANGLES = (0.0, -35.0, 55.0)  # napari camera (roll, elevation, azimuth) in degrees


def auto_limits(image: np.ndarray) -> tuple[float, float]:
    """Display range from percentiles of a strided sample: cheap even for a large volume."""
    flat = image.reshape(-1)
    sample = flat[:: max(1, flat.size // CONTRAST_SAMPLES)]
    low, high = (float(v) for v in np.percentile(sample, CONTRAST_PERCENTILES))
    if high <= low:
        high = low + 1.0
    return low, high


def voxel_geometry(
    config: RigConfig, z_positions_um: list[float]
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(scale, translate) in micrometres of a (z, y, x) preview under ``config``'s ROI/binning."""
    camera = config.camera
    pixel = camera.pixel_size_um
    x, y, _, _ = camera.roi_box
    step = float(np.abs(np.diff(z_positions_um)).mean()) if len(z_positions_um) > 1 else 1.0
    if not math.isfinite(step) or step <= 0:
        step = 1.0
    # A sweep may run downwards; napari's axis grows, so the volume starts at its lowest z.
    z0 = float(min(z_positions_um)) if len(z_positions_um) > 1 else 0.0
    return (step, pixel * camera.binning, pixel * camera.binning), (z0, y * pixel, x * pixel)


class PreviewUpdater(QObject):
    """Polls the session for new images and shows them in the viewer's preview layer."""

    image_shown = Signal(int)  # the preview's sequence number

    def __init__(
        self,
        viewer: ViewerModel,
        controller: SessionController,
        canvas: QWidget | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``canvas`` is the widget napari draws into: its paints are timed to pace updates."""
        super().__init__(parent)
        self.viewer = viewer
        self._canvas = canvas
        self._awaiting_paint = False
        if canvas is not None:
            canvas.installEventFilter(self)
        self.controller = controller
        self.seq: int | None = None
        self.images_shown = 0
        self.max_projection = False
        self._contrast_pending = True  # auto_once: set from the next image
        self._contrast_skip = 0  # images to let pass before the pending auto contrast
        self.stale = False
        self._geometry: tuple | None = None
        self.render_cost_s = 0.0  # smoothed event-loop time taken by showing one image
        self._last_show = -math.inf
        self._last_tick = 0.0
        self._paint_cost = 0.0
        self._sample_pending = False
        height, width = controller.config.camera.frame_shape
        self.layer: Image = viewer.add_image(
            np.zeros((1, height, width), dtype=np.uint16),
            name="preview",
            colormap=controller.config.viewer.colormap,
            contrast_limits=(0, 1000),
        )
        self.layer.contrast_limits_range = UINT16_RANGE
        if hasattr(self.layer, "units"):  # napari >= 0.6: the scale bar reads the layers' units
            self.layer.units = "um"
        viewer.dims.axis_labels = ("z", "y", "x")
        self._viewer_settings = controller.config.viewer
        self._exposure_ms = controller.config.camera.exposure_ms
        self.apply_viewer_settings(self._viewer_settings)
        self._update_geometry()
        controller.config_changed.connect(self._on_config)
        controller.mode_changed.connect(lambda _mode: self.request_auto_contrast())
        controller.started.connect(self._on_session_started)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def request_auto_contrast(self, skip: int = 0) -> None:
        """Set the contrast from the next image (auto-once), whatever the mode; ``skip`` images
        pass first (after dark subtraction is switched on, one may still be raw)."""
        self._contrast_pending = True
        self._contrast_skip = skip

    def set_stale(self, stale: bool) -> None:
        """Dim the image while it is not live; the next new image undims it."""
        self.stale = stale
        self.layer.opacity = STALE_OPACITY if stale else 1.0

    def apply_viewer_settings(self, viewer: ViewerConfig) -> None:
        """Contrast mode, manual limits and colormap from the config's viewer section."""
        previous, self._viewer_settings = self._viewer_settings, viewer
        if viewer.colormap != self.layer.colormap.name:
            try:
                self.layer.colormap = viewer.colormap
            except (KeyError, ValueError) as exc:
                log.warning("unknown colormap %r: %s", viewer.colormap, exc)
        if viewer.contrast == "manual" and viewer.contrast_limits is not None:
            self.layer.contrast_limits = tuple(float(v) for v in viewer.contrast_limits)
        elif viewer.contrast != previous.contrast and viewer.contrast == "auto_once":
            self._contrast_pending = True

    def set_max_projection(self, enabled: bool) -> None:
        """Show the maximum over all planes instead of the plane under the z slider."""
        self.max_projection = enabled
        self.layer.projection_mode = "max" if enabled else "none"
        self._update_projection_margins()

    def set_3d(self, enabled: bool) -> None:
        """napari's 3D view of the volume, at the voxel scale, tilted so depth shows at once."""
        self.viewer.dims.ndisplay = 3 if enabled else 2
        for layer in self.viewer.layers:  # the ROI rectangle belongs to the 2D view
            if isinstance(layer, Shapes):
                layer.visible = not enabled
        # napari 0.9 moved the camera and the overlays under viewer.scene.
        scene = getattr(self.viewer, "scene", self.viewer)
        overlays = getattr(scene, "overlays", None)
        axes = getattr(overlays, "axes", None) or self.viewer.axes
        axes.visible = enabled
        if enabled:
            self.viewer.reset_view()
            scene.camera.angles = VIEW_3D_ANGLES

    # -- polling ------------------------------------------------------------------------------

    @property
    def min_interval_s(self) -> float:
        """Shortest time between two shown images: the timer's, or more when drawing is slow."""
        return max(POLL_MS / 1000, RENDER_SHARE * self.render_cost_s)

    def poll(self) -> None:
        """Show the newest image if there is one; called by the timer."""
        now = time.monotonic()
        if self._sample_pending:
            # What the last image cost: its timed paint, or, when this tick came late, the
            # whole time since the previous tick (the loop was busy drawing, whatever it drew).
            since = now - self._last_tick
            busy = since if since > LATE_TICK_FACTOR * POLL_MS / 1000 else 0.0
            a = RENDER_COST_SMOOTHING
            self.render_cost_s = (1 - a) * self.render_cost_s + a * max(self._paint_cost, busy)
            self._sample_pending = False
        self._last_tick = now
        controller = self.controller
        if (controller.mode == "paused" and not controller.acquiring) or not controller.ready:
            return
        if now - self._last_show < self.min_interval_s:
            return
        try:
            # Copied out only when a new image was published (a volume can be 80 MB).
            preview = controller.session.latest_preview(newer_than=self.seq)
        except Exception as exc:  # buffers being replaced: the next tick tries again
            log.debug("preview unavailable: %s", exc)
            return
        if preview is None or preview.seq == self.seq:
            return
        self.seq = preview.seq
        self._last_show = now
        self._awaiting_paint = self._canvas is not None
        self._paint_cost = 0.0
        self._sample_pending = True
        self.show(preview.image)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """When the canvas paints a new image, measure (once the paint is done) what it cost."""
        if self._awaiting_paint and watched is self._canvas and event.type() == QEvent.Paint:
            self._awaiting_paint = False
            # A zero timer runs after this paint and the window's composition are finished.
            QTimer.singleShot(0, self._measure_render_cost)
        return False

    def _measure_render_cost(self) -> None:
        self._paint_cost = time.monotonic() - self._last_show

    def show(self, image: np.ndarray) -> None:
        """Put ``image`` ((y, x) frame or (z, y, x) volume) into the layer, in place."""
        volume = image[np.newaxis] if image.ndim == 2 else image
        reshaped = volume.shape != self.layer.data.shape
        self.layer.data = volume
        if self.stale:
            self.set_stale(False)
        if reshaped:  # new ROI, binning or planes: a new picture, auto contrast looks again
            self._contrast_pending = True
            self._update_geometry()
            self._update_projection_margins()
            self.viewer.reset_view()
            if volume.shape[0] > 1:  # a volume opens on its middle plane
                self.viewer.dims.set_current_step(self.viewer.dims.ndim - 3, volume.shape[0] // 2)
        self._update_contrast(volume)
        self.images_shown += 1
        self.image_shown.emit(self.seq if self.seq is not None else -1)

    # -- internals ----------------------------------------------------------------------------

    def _update_contrast(self, volume: np.ndarray) -> None:
        if self._contrast_pending and self._contrast_skip > 0:
            self._contrast_skip -= 1
            return
        mode = self._viewer_settings.contrast
        if mode == "auto" or (mode != "manual" and self._contrast_pending):
            self.layer.contrast_limits = auto_limits(volume)
            self._contrast_pending = False
        elif mode == "manual" and self._contrast_pending:
            self._contrast_pending = False
            if self._viewer_settings.contrast_limits is None:
                self.layer.contrast_limits = auto_limits(volume)

    def _on_session_started(self) -> None:
        self.seq = None  # a new session's preview buffer counts from zero again
        self._contrast_pending = True

    def _on_config(self, config: RigConfig) -> None:
        if config.viewer != self._viewer_settings:
            self.apply_viewer_settings(config.viewer)
        if config.camera.exposure_ms != self._exposure_ms:  # a new brightness: look again
            self._exposure_ms = config.camera.exposure_ms
            self.request_auto_contrast(skip=1)
        self._update_geometry()

    def _update_geometry(self) -> None:
        try:
            z = self.controller.session.z_positions_um()
        except Exception:
            z = self.controller.config.scanning.z_positions_um()
        if self.layer.data.shape[0] == 1:
            z = []
        scale, translate = voxel_geometry(self.controller.config, z)
        if (scale, translate) != self._geometry:
            self._geometry = (scale, translate)
            self.layer.scale = scale
            self.layer.translate = translate

    def _update_projection_margins(self) -> None:
        dims = self.viewer.dims
        if dims.ndim < 3:
            return
        extent = self.layer.data.shape[0] * float(self.layer.scale[0]) if self.max_projection else 0
        left = list(dims.margin_left)
        right = list(dims.margin_right)
        axis = dims.ndim - 3
        left[axis] = right[axis] = extent
        dims.margin_left = tuple(left)
        dims.margin_right = tuple(right)

"""Saved runs in the operator's viewer: File → Open run… and the recent runs.

A run opens through the same reader napari uses (``napari_reader.read_run``): one lazy
(t, z, y, x) layer in micrometres over the run's dataset.h5, above the live preview, which keeps
running underneath. "Close opened runs" removes them again. The recent runs (opened here or
acquired here) are kept in the GUI's settings, newest first.
"""

from __future__ import annotations

import logging
from pathlib import Path

from napari.components import ViewerModel
from napari.layers import Layer
from qtpy.QtCore import QSettings

from lightsheet.gui.napari_reader import read_run

log = logging.getLogger("lightsheet.gui")

RECENT_KEY = "runs/recent"
MAX_RECENT = 10


class RecentRuns:
    """Run folders, newest first, remembered in ``settings`` (those gone from disk are skipped)."""

    def __init__(self, settings: QSettings | None) -> None:
        self.settings = settings
        self._paths: list[str] = []
        if settings is not None:
            stored = settings.value(RECENT_KEY, [])
            self._paths = [str(p) for p in (stored if isinstance(stored, list) else [stored]) if p]

    def add(self, folder: Path) -> None:
        path = str(Path(folder).resolve())
        self._paths = [path, *(p for p in self._paths if p != path)][:MAX_RECENT]
        if self.settings is not None:
            self.settings.setValue(RECENT_KEY, self._paths)

    def paths(self) -> list[Path]:
        return [Path(p) for p in self._paths if Path(p).exists()]


class RunLayers:
    """Opens runs as layers of ``viewer`` and closes them again."""

    def __init__(self, viewer: ViewerModel) -> None:
        self.viewer = viewer
        self.layers: list[Layer] = []

    def open(self, path: Path) -> list[Layer]:
        """Add the run at ``path`` (folder or .h5); ValueError when it is not a run."""
        added = []
        for data, kwargs, layer_type in read_run(path):
            layer = self.viewer.add_layer(Layer.create(data, kwargs, layer_type))
            added.append(layer)
        self.layers.extend(added)
        self.viewer.dims.axis_labels = ("t", "z", "y", "x")
        self.viewer.layers.selection.active = added[-1]
        self.viewer.reset_view()
        log.info("opened run %s in the viewer", path)
        return added

    def close_all(self) -> None:
        for layer in self.layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.layers.clear()
        if self.viewer.dims.ndim == 3:
            self.viewer.dims.axis_labels = ("z", "y", "x")

"""Graphical interface: Qt widgets and napari integration (the only layer that imports them)."""

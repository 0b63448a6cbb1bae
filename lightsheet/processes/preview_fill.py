"""The previewed volume, filled plane by plane into the preview buffer's back slot as it arrives.

Publishing a whole volume at its last plane copied all of it then (80 MB for 10 planes of
2048 x 2048, about 18 ms on the development VM), and that copy was most of the camera-to-preview
latency. Each plane is now copied as its frame arrives, the same bytes in all, and the volume's
end only switches the buffer's slots. A volume is chosen at its first plane when the preview is
due (``preview_hz``); the frames of a volume not chosen cost nothing. Planes that never arrived
are shown as zeros, as the saver stores them, never as a plane of an older volume.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from lightsheet.processes.frames import copy_frame
from lightsheet.runtime.preview import PreviewBuffer


class PreviewFill:
    """One volume at a time (volume index = frame id // planes) on its way to the preview."""

    def __init__(self, buffer: PreviewBuffer) -> None:
        self._buffer = buffer
        self._index: int | None = None  # the volume being filled
        self._back: np.ndarray | None = None
        self._filled = np.zeros(0, dtype=bool)
        self._last_chosen = -float("inf")  # when the last previewed volume was chosen

    def reset(self) -> None:
        """Forget the volume being filled (a new run or mode: its indexes start again)."""
        self._index, self._back = None, None

    def add(self, index: int, plane: int, frame: np.ndarray, planes: int,
            dark: np.ndarray | None, hz: float) -> None:  # fmt: skip
        """Copy a frame into its plane if its volume is previewed (choosing it at plane 0)."""
        if self._index is not None and index != self._index:
            if index < self._index:
                self.reset()  # ids started again: a new camera epoch (frame ids never go back)
            else:
                self.complete(self._index)  # the volume's last plane never came
        if self._index is None:
            if plane != 0 or not self._due(hz):
                return
            self._back = self._buffer.back((planes, *frame.shape))
            if self._back is None:
                return  # larger than the buffer: no preview of this shape
            self._index, self._last_chosen = index, time.monotonic()
            self._filled = np.zeros(planes, dtype=bool)
        assert self._back is not None
        copy_frame(frame, self._back[plane], dark)
        self._filled[plane] = True

    def complete(self, index: int, volume: Sequence[np.ndarray] | None = None) -> None:
        """Volume ``index`` ended: show it. Planes not copied are taken from ``volume`` (the
        assembled volume's planes) or, without one, zeroed."""
        if index != self._index or self._back is None:
            return
        back = self._back
        for plane in np.flatnonzero(~self._filled).tolist():
            if volume is not None:
                back[plane] = volume[plane]
            else:
                back[plane] = 0
        self._buffer.commit(index, back.shape)
        self.reset()

    def _due(self, hz: float) -> bool:
        """Volumes are chosen at most ``hz`` times a second, so they are shown at that rate."""
        return time.monotonic() - self._last_chosen >= 1.0 / max(hz, 0.1)

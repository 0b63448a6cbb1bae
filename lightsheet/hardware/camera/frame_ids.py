"""Run-relative frame ids from a camera's own frame counter.

Frame 0 is the first frame of a start; a jump in the camera's counter leaves the same jump in the
ids (a lost frame stays a recorded gap and never shifts later planes), and ``skipped`` counts the
frames jumped over. GigE Vision 1.x block ids are 16-bit and skip 0 when they wrap (``wrap``);
a counter that restarts (an SDK that re-arms) or repeats moves the ids on by one. A frame whose
counter cannot be trusted (Aravis returns an incomplete buffer with the id of its previous use)
is taken to be the next one: ``advance_untrusted``.
"""

from __future__ import annotations


class FrameCounter:
    def __init__(self, wrap: int | None = None) -> None:
        self._wrap = wrap
        self._last_raw: int | None = None
        self.frame_id = -1
        self.skipped = 0

    def advance(self, raw: int | None) -> int:
        """The id of the frame the camera counted as ``raw`` (None or 0: no counter, next id)."""
        step = 1
        if raw and self._last_raw is not None:
            step = raw - self._last_raw
            if step <= 0 and self._wrap is not None and self._last_raw <= self._wrap:
                step += self._wrap
            if step <= 0:
                step = 1
        if raw:
            self._last_raw = raw
        if self.frame_id < 0:
            self.frame_id = 0
        else:
            self.skipped += step - 1
            self.frame_id += step
        return self.frame_id

    def advance_untrusted(self) -> int:
        """The id of a frame whose counter is unknown: the one after the last, counter included."""
        if self._last_raw is not None:
            self._last_raw += 1
            if self._wrap is not None and self._last_raw > self._wrap:
                self._last_raw = 1
        if self.frame_id < 0:
            self.frame_id = 0
        else:
            self.frame_id += 1
        return self.frame_id

"""A one-line progress display for headless acquisitions: volumes, rate, drops, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from lightsheet.app.session import Progress


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressLine:
    """Redraws one line on a terminal; elsewhere (logs, CI) prints a line every few seconds."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 5.0, width: int = 24) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._every_s = every_s
        self._width = width
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self._tty and now - self._last < self._every_s:
            return
        self._last = now
        if p.waiting_for_trigger:
            self._write("waiting for the trigger device ...")
            return
        fraction = min(p.volumes_saved / max(p.volumes_target, 1), 1.0)
        filled = round(fraction * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        drops = p.frames_dropped + p.frames_missing
        text = (
            f"[{bar}] {p.volumes_saved}/{p.volumes_target or '?'} volumes  "
            f"{p.frame_rate_hz:6.1f} frames/s  {p.saver_mbps:7.1f} MB/s "
            f"(writing {p.saver_busy:4.0%})  "
            f"dropped {drops}  ring {p.frame_ring_fill:4.0%}  "
            f"elapsed {format_duration(p.elapsed_s)}  ETA {format_duration(p.eta_s)}"
        )
        self._write(text)

    def _write(self, text: str) -> None:
        if self._tty:
            self._stream.write("\r" + text + "\x1b[K")
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()

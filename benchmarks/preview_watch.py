"""Preview latency during a run: from the camera reading a frame to the image in the preview buffer.

Two threads of the benchmark's main process watch the session's preview while a run goes on:

- the *buffer* watcher reads the preview buffer's seqlock header (sequence and index, the first
  two int64 of the block ``lightsheet-<pid>-preview-*``) every ``BUFFER_POLL_S``: the moment a
  new sequence appears is when the dispatcher finished publishing that volume. It copies no
  pixels, so it costs the pipeline nothing.
- the *viewer* does what the GUI's preview does (``gui/preview.py``): every 33 ms it calls
  ``Session.latest_preview(newer_than=...)``, which copies an image out only when a new one was
  published. This is the load a watched preview puts on the machine, and the latency an
  operator sees (before drawing). (It used to call it without ``newer_than``, copying the
  newest 80 MB volume at every poll, new or not: about 1.4 times the GUI's copies.)

Latency of volume v = when it was seen - host timestamp of its last plane (the frame whose
arrival completes the volume and triggers the publish), taken from the run's per-frame table.
The header layout is checked against the public API: for every sequence both watchers saw,
their indexes must agree (``layout_ok``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.cpu import register_bench_thread
from lightsheet.app.session import Session
from lightsheet.runtime.shm import attach_block, list_blocks, owner_pid

BUFFER_POLL_S = 0.001
VIEWER_POLL_S = 0.033  # gui/preview.py POLL_MS


def _preview_block() -> str | None:
    mine = [n for n in list_blocks() if owner_pid(n) == os.getpid() and "-preview-" in n]
    return mine[-1] if mine else None


class PreviewWatcher:
    """Records (sequence, index, time seen) of each preview image, at the buffer and as a viewer."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.buffer_seen: dict[int, tuple[int, float]] = {}  # seq -> (index, time.time())
        self.viewer_seen: dict[int, tuple[int, float]] = {}
        self.viewer_copies = 0
        self.problem: str | None = None

    def start(self) -> None:
        for target, name in ((self._watch_buffer, "preview-buffer"), (self._view, "viewer")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _watch_buffer(self) -> None:
        register_bench_thread()
        name = _preview_block()
        if name is None:
            self.problem = "no preview block of this session found in /dev/shm"
            return
        shm = attach_block(name)
        try:
            header = np.ndarray((2,), dtype="<i8", buffer=shm.buf)  # seq, index
            last = int(header[0])
            while not self._stop.wait(BUFFER_POLL_S):
                seq = int(header[0])
                if seq == last or seq % 2:
                    continue
                index = int(header[1])
                now = time.time()
                if int(header[0]) == seq:  # not overwritten while we read the index
                    self.buffer_seen[seq] = (index, now)
                    last = seq
            del header
        finally:
            shm.close()

    def _view(self) -> None:
        register_bench_thread()
        last: int | None = None
        while not self._stop.wait(VIEWER_POLL_S):
            preview = self._session.latest_preview(newer_than=last)
            if preview is None or preview.seq == last:
                continue
            self.viewer_copies += 1
            last = preview.seq
            self.viewer_seen[preview.seq] = (preview.index, time.time())

    def report(self, volume_done_ts: Mapping[int, float]) -> dict[str, Any]:
        """Latency percentiles (ms) at the buffer and at the viewer, and the layout check."""
        agree = [
            self.buffer_seen[s][0] == self.viewer_seen[s][0]
            for s in self.viewer_seen
            if s in self.buffer_seen
        ]
        return {
            "buffer": _latency(self.buffer_seen, volume_done_ts),
            "viewer": _latency(self.viewer_seen, volume_done_ts),
            "viewer_copies": self.viewer_copies,
            "layout_ok": bool(agree) and all(agree),
            "problem": self.problem,
        }


def _latency(seen: Mapping[int, tuple[int, float]], done: Mapping[int, float]) -> dict[str, Any]:
    latencies = [(when - done[index]) * 1000 for index, when in seen.values() if index in done]
    if not latencies:
        return {"images": len(seen), "matched": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    values = np.asarray(latencies)
    return {
        "images": len(seen),
        "matched": len(latencies),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "max_ms": round(float(values.max()), 1),
    }

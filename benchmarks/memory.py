"""Per-process memory over a benchmark run, to tell a bounded pipeline from a leaking one."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from benchmarks.cpu import register_bench_thread

_log = logging.getLogger(__name__)

MB = 1e6
# Helper processes of multiprocessing itself, named by what their command line runs.
_HELPER_MARKERS = ("resource_tracker", "forkserver", "semaphore_tracker")


@dataclass
class _Track:
    """What we know of one process (a pid plus its creation time, so a reused pid is new)."""

    process: psutil.Process
    title: str
    first_seen: float
    samples: int = 0
    peak_rss: int = 0
    peak_uss: int = 0
    start_uss: int | None = None
    end_uss: int | None = None
    uss_is_rss: bool = False


def _title(process: psutil.Process) -> str:
    """A readable name: the process title if it was set, else what its command line runs."""
    title = process.name()
    if not title.lower().startswith("python"):
        return title
    try:
        command = " ".join(process.cmdline())
    except psutil.AccessDenied:
        return title
    marker = next((m for m in _HELPER_MARKERS if m in command), None)
    if marker is not None:
        return marker
    if "--multiprocessing-fork" in command:
        return f"child-{process.pid}"
    return title


def _appearance(track: _Track) -> tuple[float, int]:
    return track.first_seen, track.process.pid


class MemorySampler:
    """Samples RSS and USS of a process and all its descendants every `interval_s` seconds.

    RSS counts every page a process has touched, shared memory included: a shared ring shows
    up in full in every process that maps it, and rises as its pages are first touched, without
    any leak. USS counts only the pages private to one process, so USS growth between the first
    and last samples after `warmup_s` (counted from when each process was first seen) is what
    shows a per-process leak. Where USS is not permitted (another user's process) RSS stands in
    and the report says so. Peaks cover every sample, warm-up included. MB = 1e6 bytes.
    """

    def __init__(
        self,
        pid: int | None = None,
        names: Mapping[int, str] | None = None,
        interval_s: float = 0.5,
        warmup_s: float = 2.0,
    ) -> None:
        self._root = psutil.Process(os.getpid() if pid is None else pid)
        self._names: dict[int, str] = dict(names or {})
        self._interval_s = interval_s
        self._warmup_s = warmup_s
        self._tracks: dict[tuple[int, float], _Track] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._growth_from = 0.0  # monotonic time before which no sample starts the growth

    def set_names(self, names: Mapping[int, str]) -> None:
        """Name processes by pid; children are often known only after they were spawned."""
        with self._lock:
            self._names.update(names)

    def restart_growth(self) -> None:
        """Measure USS growth from now on: spawning, imports and a camera rendering its planes
        before the first frame are start-up, not a leak. Peaks are kept."""
        with self._lock:
            self._growth_from = time.monotonic()
            for track in self._tracks.values():
                track.start_uss = track.end_uss = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("MemorySampler already started")
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling after one last sample, so end values reflect the end of the run."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> MemorySampler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def report(self) -> list[dict[str, Any]]:
        """One row per process seen, in the order they appeared; None where warm-up never ended."""
        with self._lock:
            return [self._row(t) for t in sorted(self._tracks.values(), key=_appearance)]

    def _row(self, t: _Track) -> dict[str, Any]:
        default = "main" if t.process.pid == self._root.pid else t.title
        return {
            "name": self._names.get(t.process.pid, default),
            "pid": t.process.pid,
            "peak_rss_mb": t.peak_rss / MB,
            "peak_uss_mb": t.peak_uss / MB,
            "start_uss_mb": None if t.start_uss is None else t.start_uss / MB,
            "end_uss_mb": None if t.end_uss is None else t.end_uss / MB,
            "growth_mb": None
            if t.start_uss is None or t.end_uss is None
            else (t.end_uss - t.start_uss) / MB,
            "samples": t.samples,
            "uss_is_rss": t.uss_is_rss,
        }

    def _run(self) -> None:
        register_bench_thread()
        self._sample()
        while not self._stopping.wait(self._interval_s):
            self._sample()
        self._sample()

    def _sample(self) -> None:
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        now = time.monotonic()
        for process in processes:
            try:
                self._sample_one(process, now)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue  # it ended between the listing and the reading

    def _sample_one(self, process: psutil.Process, now: float) -> None:
        key = (process.pid, process.create_time())
        track = self._tracks.get(key)
        if track is None:
            track = _Track(process=process, title=_title(process), first_seen=now)
        rss, uss = self._measure(track)
        if rss == 0:
            return  # exiting: its memory is already released, a zero would fake a shrink
        with self._lock:
            self._tracks[key] = track
            track.samples += 1
            track.peak_rss = max(track.peak_rss, rss)
            track.peak_uss = max(track.peak_uss, uss)
            if now - track.first_seen >= self._warmup_s and now >= self._growth_from:
                if track.start_uss is None:
                    track.start_uss = uss
                track.end_uss = uss

    @staticmethod
    def _measure(track: _Track) -> tuple[int, int]:
        """(rss, uss) in bytes; USS needs to read the process's page maps, RSS does not."""
        if not track.uss_is_rss:
            try:
                info = track.process.memory_full_info()
                return info.rss, info.uss
            except psutil.AccessDenied:
                _log.info("USS of pid %d not permitted: using RSS", track.process.pid)
                track.uss_is_rss = True
        rss = track.process.memory_info().rss
        return rss, rss


def uss_outside(pid: int, folder: Path) -> int | None:
    """``pid``'s USS (private clean + dirty pages, as psutil counts it) less its mappings of
    files under ``folder``, from one read of its smaps; None when unreadable. A file's pages that
    one process maps count in its USS though they are the file's, not its memory."""
    total, inside = 0, False
    prefix = f"{folder.resolve()}/"
    try:
        with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
            for line in smaps:
                key, _, rest = line.partition(" ")
                if "-" in key and not key.endswith(":"):  # a mapping's header line
                    inside = rest.rstrip().split(maxsplit=4)[-1].startswith(prefix)
                elif not inside and key in ("Private_Clean:", "Private_Dirty:"):
                    total += int(rest.split()[0]) * 1024
    except OSError:
        return None
    return total

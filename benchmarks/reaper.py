"""Checks each chunk file of a run as soon as it is complete, then deletes it: bounded disk use.

A run at 100 frames/s of 2048 x 2048 uint16 writes 0.84 GB/s: 30 s fill 25 GB, a 30-minute soak
1.5 TB, and on a tmpfs every byte is RAM. The reaper (a thread of the benchmark's main process)
watches ``chunks/`` for files under their final name, which the saver gives a chunk only once it
is closed and fsynced, checks the file (per-frame table, frame ids on the plane their id names,
a stamped frame id in the pixels, the first volume bit for bit against the camera) and deletes
it. This does not change what is measured: the saver has already written and fsynced every byte
of a chunk before its final name appears, so its work and the disk's are done; on a tmpfs the
pages are freed, which a sink that had room for the whole run would not do, but freeing costs the
reaper's process, not the pipeline's. Chunk 0 is kept to the end: the saver reads it each time it
rewrites ``dataset.h5`` (the waveforms are copied from it).
"""

from __future__ import annotations

import logging
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the Blosc filter for compressed chunks)
import numpy as np

from benchmarks.cpu import register_bench_thread
from lightsheet.hardware.camera.simulated import decode_frame_id

_log = logging.getLogger(__name__)

KEPT_CHUNK = "chunk-000000.h5"
POLL_S = 0.25
# Reading a plane back costs the benchmark's process a read of 8 MB: the stamped frame id is
# checked in every chunk that starts at one of the first STAMP_ALL volumes, then in every
# STAMP_EVERY-th (tables and frame ids are checked in every chunk).
STAMP_ALL = 5
STAMP_EVERY = 10
MAX_PROBLEMS = 100
DARK_LIMIT = 100 + 6 * 2  # the simulated camera's offset + 6 sigma of its read noise


@dataclass
class ReapStats:
    """What the reaper found in the run's chunk files."""

    chunks: int = 0
    volumes: int = 0
    rows: int = 0
    present: int = 0
    file_bytes: int = 0  # as stored (compressed or not), chunk files only
    pixel_bytes: int = 0  # of every saved plane, uncompressed
    first_volume_checked: bool = False
    problems: list[str] = field(default_factory=list)
    deleted: int = 0
    peak_bytes_on_sink: int = 0
    first_frame: tuple[int, float] | None = None  # (frame id, host timestamp) of the earliest
    last_frame: tuple[int, float] | None = None  # ... and of the latest saved frame
    volume_done_ts: dict[int, float] = field(default_factory=dict)  # host ts of last plane

    def note_frames(self, present: np.ndarray, planes: int) -> None:
        """Remember the run's first and last frames and when each volume was complete."""
        if not len(present):
            return
        ids, stamps = present["frame_id"], present["host_ts"]
        low, high = int(np.argmin(ids)), int(np.argmax(ids))
        if self.first_frame is None or ids[low] < self.first_frame[0]:
            self.first_frame = (int(ids[low]), float(stamps[low]))
        if self.last_frame is None or ids[high] > self.last_frame[0]:
            self.last_frame = (int(ids[high]), float(stamps[high]))
        last_planes = present[present["plane"] == planes - 1]
        for volume, stamp in zip(last_planes["volume"], last_planes["host_ts"], strict=True):
            self.volume_done_ts[int(volume)] = float(stamp)

    @property
    def achieved_fps(self) -> float:
        """The camera's own rate: frame ids count every frame it read, saved or dropped."""
        if self.first_frame is None or self.last_frame is None:
            return 0.0
        span = self.last_frame[1] - self.first_frame[1]
        frames = self.last_frame[0] - self.first_frame[0]
        return frames / span if span > 0 else 0.0


class ChunkReaper:
    """Checks and deletes a run's completed chunk files while the run goes on."""

    def __init__(
        self,
        run_dir: Path,
        planes: int,
        reference: list[np.ndarray] | None = None,
        stamped: bool = True,
        delete: bool = True,
        hold_bytes: int = 0,
    ) -> None:
        """``hold_bytes``: checked chunks stay until the run's chunks on the sink exceed this
        many bytes, then all of them go (0: each as soon as it is checked). On a disk mounted
        with ``discard`` (this VM's) a deleted file is trimmed at once: 250 MB chunks deleted
        beside a run at 220 frames/s took the disk from under it (259 and 299 frames dropped,
        against 0 and 0 with the deletions held to the run's end, alternating runs)."""
        self._chunks = Path(run_dir) / "chunks"
        self._hold_bytes = hold_bytes
        self._checked: list[Path] = []
        self._planes = planes
        self._reference = reference
        self._stamped = stamped
        self._delete = delete
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = ReapStats()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="chunk-reaper", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop deleting: `Acquisition.finish` reads the run's files, which must stay put."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def finish(self) -> ReapStats:
        """Stop watching and check what is left (call once the run's files are closed)."""
        self.pause()
        self._sweep()
        return self.stats

    def _loop(self) -> None:
        """Sweeps until paused, whatever a sweep raises: a reaper that stopped deleting let a
        152 frames/s soak fill a tmpfs with 22 GB of chunks in 25 s (the OOM killer ended it)."""
        register_bench_thread()
        while not self._stop.wait(POLL_S):
            try:
                self._sweep()
            except Exception as exc:
                self._problem(f"reaper: {type(exc).__name__}: {exc}")
                _log.exception("chunk reaper: a sweep failed; sweeping on")

    def _sweep(self) -> None:
        if not self._chunks.is_dir():
            return
        on_sink = self._bytes_on_sink()
        self.stats.peak_bytes_on_sink = max(self.stats.peak_bytes_on_sink, on_sink)
        for path in sorted(self._chunks.glob("chunk-*.h5")):
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            try:
                self._check(path)
            except Exception as exc:  # the file is still deleted: the sink stays bounded
                self._problem(f"{path.name}: check failed: {type(exc).__name__}: {exc}")
            if self._delete and path.name != KEPT_CHUNK:
                self._checked.append(path)
        # The sink as it was when the sweep began: chunks that landed since count next sweep.
        if self._checked and (not self._hold_bytes or on_sink > self._hold_bytes):
            for path in self._checked:
                path.unlink(missing_ok=True)
                self.stats.deleted += 1
            self._checked.clear()

    def _bytes_on_sink(self) -> int:
        """Bytes in chunks/ now; a file renamed or deleted since it was listed is skipped."""
        total = 0
        for path in self._chunks.iterdir():
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
        return total

    def _problem(self, text: str) -> None:
        if len(self.stats.problems) < MAX_PROBLEMS:  # a fault that repeats every sweep
            self.stats.problems.append(text)

    def _check(self, path: Path) -> None:
        stats = self.stats
        try:
            size = path.stat().st_size
            with h5py.File(path, "r") as chunk:
                problems = self._check_file(chunk, path.name)
        except (OSError, KeyError, ValueError) as exc:
            stats.problems.append(f"{path.name}: unreadable ({exc})")
            return
        stats.chunks += 1
        stats.file_bytes += size
        stats.problems.extend(problems)

    def _check_file(self, chunk: h5py.File, name: str) -> list[str]:
        planes, stats = self._planes, self.stats
        data, frames = chunk["data"], chunk["frames"][...]
        volumes = int(chunk.attrs["volumes"])
        first = int(chunk.attrs["first_volume"])
        problems = []
        if data.shape[0] != volumes or len(frames) != volumes * planes:
            problems.append(f"{name}: {data.shape[0]} volumes, {len(frames)} table rows")
        stats.volumes += volumes
        stats.rows += len(frames)
        stats.pixel_bytes += volumes * planes * int(np.prod(data.shape[2:])) * data.dtype.itemsize
        present = frames[frames["present"]]
        stats.present += len(present)
        stats.note_frames(present, planes)
        expected = np.arange(first * planes, (first + volumes) * planes)
        if not np.array_equal(frames["volume"] * planes + frames["plane"], expected):
            problems.append(f"{name}: rows are not volumes {first}..{first + volumes - 1} in order")
        if not np.array_equal(present["frame_id"], present["volume"] * planes + present["plane"]):
            problems.append(f"{name}: a frame saved away from the plane its id names")
        if len(present) and self._stamped and (first < STAMP_ALL or first % STAMP_EVERY == 0):
            row = present[len(present) // 2]
            image = data[int(row["volume"]) - first, int(row["plane"])]
            if decode_frame_id(image) != int(row["frame_id"]):
                problems.append(f"{name}: plane of frame {int(row['frame_id'])} holds another")
        if first == 0 and self._reference is not None:
            problems.extend(self._check_first_volume(data[0], frames[:planes], name))
        return problems

    def _check_first_volume(self, volume: np.ndarray, rows: np.ndarray, name: str) -> list[str]:
        assert self._reference is not None
        self.stats.first_volume_checked = True
        differ = [
            plane
            for plane, frame in enumerate(self._reference)
            if rows["present"][plane] and not np.array_equal(volume[plane], frame)
        ]
        if not differ:
            return []
        # A plane with no photons at all (offset + read noise only) was exposed while the
        # scanner kept the laser blanked: the camera free-runs, the scan may start late.
        dark = [p for p in differ if int(np.percentile(volume[p], 99.99)) <= DARK_LIMIT]
        note = f", {dark} of them dark (laser blanked)" if dark else ""
        return [f"{name}: plane(s) {differ} of volume 0 differ from the camera's{note}"]

"""One run of the real pipeline (Session + Acquisition, what `lightsheet acquire` runs) at one rate.

The simulated rig free-runs at the requested rate with 2048 x 2048 uint16 frames; the run is
checked chunk by chunk as it is written and the chunk files deleted (``reaper.py``), so a run of
any length needs a bounded amount of disk or RAM. Around the steady state of the run (from the
first frame to the saver's close) it takes the OS's CPU accounting of every process
(``cpu.py``), optionally `perf` profiles of each process (``perf_profile.py``) and the preview's
latency with a watched preview (``preview_watch.py``).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import cpu
from benchmarks.baselines import writable_budget
from benchmarks.memory import MemorySampler
from benchmarks.perf_profile import PerfProfiler
from benchmarks.preview_watch import PreviewWatcher
from benchmarks.reaper import ChunkReaper, ReapStats
from lightsheet.app.acquisition import Acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session, SessionError
from lightsheet.config import RigConfig
from lightsheet.hardware.camera.factory import open_camera
from lightsheet.runtime.logs import setup_process_logging, stop_process_logging
from lightsheet.storage.filesystem import is_tmpfs

_log = logging.getLogger(__name__)

FRAME_SHAPE = (2048, 2048)
FRAME_BYTES = FRAME_SHAPE[0] * FRAME_SHAPE[1] * 2
PLANES = 10
EXPOSURE_MS = 2.0  # fixed, so every rate images the same sample; the readout sets the rate
RATE_TOLERANCE = 0.95  # a rate passes when the camera delivered this share of it
POLL_S = 0.02
# A USS sample walks the page tables of every process (4 GB of mappings in all here: about
# 70 ms of kernel CPU), taken from the cores the pipeline runs on: one every 5 s, not every 1 s.
MEMORY_INTERVAL_S = 5.0
TMPFS_CHUNK_MB = 256.0  # a run's chunk size on a tmpfs sink (``sink_chunk_mb``)
STARTUP_TRIES = 3
FAULT_RETRIES = 1
PROFILE_DELAY_S = 1.0  # perf starts this long after the first frame (start-up is over)
GB = 1e9
MB = 1e6


@dataclass
class RunOptions:
    compression: str = "none"
    watch_preview: bool = False
    profile_s: float = 0.0  # > 0: perf-profile every process this long during the run
    keep: bool = False  # keep metadata.json and logs after the run
    processing: dict[str, Any] | None = None  # the config's processing section (a live processor)
    frame_ring_mb: float | None = None  # None: the config's default size


@dataclass
class RateResult:
    """One pipeline run at one requested frame rate, as measured and as found in its files."""

    requested_fps: float
    sink: str = ""
    compression: str = "none"
    watch_preview: bool = False
    achieved_fps: float = 0.0
    gbps: float = 0.0  # uncompressed pixel bytes saved per second, first frame to files closed
    seconds: float = 0.0
    frames_acquired: int = 0
    frames_dropped: int = 0
    frames_missing: int = 0
    frames_copied: int = 0  # copied into a volume slot, as the dispatcher counted them
    volumes_requested: int = 0
    volumes_saved: int = 0
    stop_reason: str = ""
    data_ok: bool = False
    problems: list[str] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    cpu_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)
    file_bytes: int = 0
    pixel_bytes: int = 0
    peak_sink_mb: float = 0.0
    preview: dict[str, Any] | None = None
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)
    startup_failures: list[str] = field(default_factory=list)
    # The saver's own timing of its writes (metadata.json "saver"): the sink's speed during the
    # run, and the share of the run it spent writing (near 1: the sink was the limit).
    sink_write_gbps: float | None = None
    writing_share: float | None = None

    @property
    def passed(self) -> bool:
        """Zero drops, zero gaps, the camera kept its rate, and the files checked out."""
        return (
            self.data_ok
            and self.frames_dropped == 0
            and self.frames_missing == 0
            and self.achieved_fps >= RATE_TOLERANCE * self.requested_fps
        )

    @property
    def compression_ratio(self) -> float | None:
        return self.pixel_bytes / self.file_bytes if self.file_bytes else None

    def verdict(self) -> str:
        if self.passed:
            return "ok"
        reasons = []
        if self.frames_dropped or self.frames_missing:
            reasons.append("drops")
        if self.achieved_fps < RATE_TOLERANCE * self.requested_fps:
            reasons.append("camera lags")
        if self.stop_reason.startswith("fault"):
            reasons.append("fault")
        if not self.data_ok:
            reasons.append("data check failed")
        return ", ".join(reasons)

    def as_json(self) -> dict[str, Any]:
        ratio = self.compression_ratio
        return {
            "requested_fps": self.requested_fps,
            "sink": self.sink,
            "compression": self.compression,
            "watch_preview": self.watch_preview,
            "achieved_fps": round(self.achieved_fps, 2),
            "gbps": round(self.gbps, 4),
            "seconds": round(self.seconds, 2),
            "frames_acquired": self.frames_acquired,
            "frames_dropped": self.frames_dropped,
            "frames_missing": self.frames_missing,
            "frames_copied": self.frames_copied,
            "volumes_requested": self.volumes_requested,
            "volumes_saved": self.volumes_saved,
            "stop_reason": self.stop_reason,
            "data_ok": self.data_ok,
            "problems": self.problems,
            "passed": self.passed,
            "compression_ratio": None if ratio is None else round(ratio, 3),
            "peak_sink_mb": round(self.peak_sink_mb, 1),
            "cpu_ms_per_frame": self.cpu_ms,
            "cpu_busy": self.busy,
            "preview": self.preview,
            "profile": self.profile,
            "startup_failures": self.startup_failures,
            "sink_write_gbps": self.sink_write_gbps,
            "writing_share": None if self.writing_share is None else round(self.writing_share, 3),
            "memory": [_memory_json(row) for row in self.memory],
        }


def sink_chunk_mb(folder: Path) -> float | None:
    """The chunk size a benchmark's run uses on `folder`'s sink: ``TMPFS_CHUNK_MB`` on a tmpfs,
    else None (the config's default).

    On a tmpfs the reaper deletes each chunk once checked, and the saver's next chunks go into
    the pages freed. Smaller chunks hold less RAM and free it sooner, which on this VM decides
    the write's speed: its host takes back freed memory within moments and backs it again on
    first touch, four times slower to fill. At 170 frames/s, alternating, 2048 MB chunks
    dropped 541 and 476 frames (saver 5.5 ms of CPU a frame), 256 MB chunks 17 and 0 (3.4-4.2
    ms). The raw write beside it uses files of the same size (``raw_write.py``)."""
    return TMPFS_CHUNK_MB if is_tmpfs(Path(folder)) else None


def bench_rig(rate_fps: float, compression: str = "none", planes: int = PLANES,
              frame_ring_mb: float | None = None,
              chunk_ram_mb: float | None = None) -> RigConfig:  # fmt: skip
    """The simulated rig at `rate_fps`: full 2048 x 2048 sensor, `planes` planes per volume;
    the frame ring and chunks of the config's default sizes unless `frame_ring_mb` or
    `chunk_ram_mb` is given.

    The camera free-runs (internal trigger), so frame k is plane k % planes whatever the scanner
    does; the scan runs at the same volume rate. Frame ids are stamped into the pixels (4 of
    4 million) so the files can be checked cheaply. The sample, offset and noise are the
    simulated camera's defaults: a dark background at the offset, sparse beads, shot and read
    noise.
    """
    period_ms = 1000.0 / rate_fps
    exposure_ms = min(EXPOSURE_MS, period_ms)
    return RigConfig.model_validate(
        {
            "camera": {
                "sensor_width": FRAME_SHAPE[1],
                "sensor_height": FRAME_SHAPE[0],
                "exposure_ms": exposure_ms,
                "readout_ms": period_ms - exposure_ms,
                "trigger_mode": "internal",
                "simulated": {"stamp_frame_id": True},
            },
            "scanning": {
                "mode": "volumetric",
                "n_planes": planes,
                "z_start_um": 0.0,
                "z_end_um": 5.0 * (planes - 1) if planes > 1 else 5.0,
                "volume_rate_hz": min(max(rate_fps / planes, 0.01), 100.0),
            },
            "saving": {
                "compression": compression,
                **({} if chunk_ram_mb is None else {"chunk_ram_mb": chunk_ram_mb}),
            },
            **({} if frame_ring_mb is None else {"buffers": {"frame_ring_mb": frame_ring_mb}}),
        }
    )


_references: dict[tuple[float, int], list[np.ndarray]] = {}


def first_frames(config: RigConfig) -> list[np.ndarray]:
    """The first volume a fresh simulated camera with this config produces (it is seeded; the
    readout time changes when frames come, not what they show). Cached per exposure."""
    key = (config.camera.exposure_ms, config.scanning.n_planes)
    if key not in _references:
        settings = config.camera.model_copy(update={"readout_ms": 0.0})
        camera = open_camera(settings, config.scanning.z_positions_um())
        frames = []
        try:
            camera.start()
            for _ in range(config.scanning.n_planes):
                frame = np.empty(camera.frame_shape, dtype=np.uint16)
                if camera.read_into(frame, timeout_s=10.0) is None:
                    break
                frames.append(frame)
        finally:
            camera.close()
        _references[key] = frames
    return _references[key]


def startup_failed(problems: list[str], frames_acquired: int) -> bool:
    """A process declared hung before the first frame: on a busy machine the simulated camera
    can take longer than the 2 s heartbeat limit to render its planes when a run starts."""
    return frames_acquired == 0 and any("not answering" in p for p in problems)


def run_rate(
    parent: Path, rate_fps: float, seconds: float, options: RunOptions | None = None
) -> RateResult:
    """`run_once`, tried again when it failed at start-up (up to STARTUP_TRIES in all) or
    ended in a fault (FAULT_RETRIES more); the failed tries are listed in `startup_failures`."""
    failures: list[str] = []
    faults = 0
    for _ in range(STARTUP_TRIES + FAULT_RETRIES):
        result = run_once(parent, rate_fps, seconds, options)
        if startup_failed(result.problems, result.frames_acquired):
            failures.append(result.problems[0])
            continue
        if result.stop_reason.startswith("fault") and faults < FAULT_RETRIES:
            # One process starved of CPU for 2 s on a shared machine ends a run as "not
            # answering": try the rate once more rather than end the ramp on it.
            faults += 1
            failures.append(f"run ended by {result.stop_reason}")
            continue
        break
    result.startup_failures = failures
    return result


def run_once(
    parent: Path, rate_fps: float, seconds: float, options: RunOptions | None = None
) -> RateResult:
    """Acquire `seconds` worth of frames at `rate_fps` into a new folder under `parent`."""
    options = options or RunOptions()
    config = bench_rig(rate_fps, options.compression, frame_ring_mb=options.frame_ring_mb,
                       chunk_ram_mb=sink_chunk_mb(parent))  # fmt: skip
    if options.processing is not None:
        config = config.updated(processing=options.processing)
    volumes = max(1, round(rate_fps * seconds / PLANES))
    result = RateResult(
        requested_fps=rate_fps,
        compression=options.compression,
        watch_preview=options.watch_preview,
        volumes_requested=volumes,
    )
    reference = first_frames(config)
    folder = prepare_run_folder(
        tempfile.mkdtemp(prefix=f"pipeline-{rate_fps:g}fps-", dir=parent), overwrite=False
    )
    # On a disk the checked chunks are deleted once half the free space is used (a 10 s run
    # never gets there): deleting beside the run slows its writes (``reaper.py``).
    hold = 0 if is_tmpfs(folder) else writable_budget(folder) // 2
    reaper = ChunkReaper(folder, PLANES, reference, hold_bytes=hold)
    setup_process_logging("main", folder / "logs", config.logging.level)
    sampler = MemorySampler(interval_s=MEMORY_INTERVAL_S)
    sampler.start()
    closed_at = time.time()
    try:
        with Session(config, log_dir=folder / "logs") as session:
            session.watch_preview = options.watch_preview
            sampler.set_names({pid: name for name, pid in session.process_pids().items()})
            reaper.start()
            try:
                closed_at = _acquire(
                    session, folder, volumes, seconds, sampler, options, result, reaper
                )
            finally:
                sampler.stop()  # once a process exits, shared pages would look like growth
    except SessionError as exc:
        result.problems.append(f"session failed: {exc}")
    finally:
        sampler.stop()
        stop_process_logging()
        stats = reaper.finish()
        metadata = _read_metadata(folder, result.problems)
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            _delete_image_data(folder)
    result.memory = sampler.report()
    _check(metadata, result, stats, closed_at)
    return result


def _read_metadata(folder: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / "metadata.json").read_text()))
    except (OSError, ValueError) as exc:
        problems.append(f"metadata.json unreadable: {exc}")
        return {}


def _acquire(
    session: Session,
    folder: Path,
    volumes: int,
    seconds: float,
    sampler: MemorySampler,
    options: RunOptions,
    result: RateResult,
    reaper: ChunkReaper,
) -> float:
    """Run to the saver's close and return when that was (time.time()); fills the CPU,
    preview and profile figures of `result`."""
    acquisition = Acquisition(session, folder, volumes=volumes, extra_metadata={"benchmark": True})
    pids = session.process_pids()
    watcher = PreviewWatcher(session) if options.watch_preview else None
    profiler = PerfProfiler(folder / "perf") if options.profile_s > 0 else None
    acquisition.start()
    if watcher is not None:
        watcher.start()
    deadline = time.monotonic() + 2 * seconds + 60.0  # a camera at half speed still finishes
    first: cpu.CpuSnapshot | None = None
    first_at = profile_at = 0.0
    closed_at: float | None = None
    try:
        while not acquisition.ended:
            time.sleep(POLL_S)
            progress = acquisition.poll()
            now = time.monotonic()
            if first is None and progress.frames_acquired > 0:
                sampler.restart_growth()  # the camera has rendered its planes: start-up is over
                first, first_at = cpu.snapshot(pids, progress.frames_acquired), now
                profile_at = now + PROFILE_DELAY_S
            if profiler is not None and profile_at and now >= profile_at:
                profiler.start(pids, options.profile_s)
                profile_at = 0.0
            if now > deadline:
                acquisition.interrupt("benchmark deadline passed")
                break
        else:
            closed_at = time.time()  # the saver has closed (and fsynced) the run's files
        frames = acquisition.poll().frames_acquired
        if first is not None:
            last = cpu.snapshot(pids, frames)
            result.cpu_ms = cpu.per_frame(first, last)
            result.busy = cpu.busy_share(first, last, time.monotonic() - first_at)
    except KeyboardInterrupt:
        acquisition.interrupt("interrupted")  # end the run now; the files still close cleanly
        raise
    finally:
        if watcher is not None:
            watcher.stop()
        if profiler is not None:
            result.profile = profiler.finish()
        reaper.pause()
        acquisition.finish()
        result.frames_copied = int(session.status_values()["frames_copied"])
    if watcher is not None:
        result.preview = {"watcher": watcher}  # turned into figures once the table is read
    return closed_at or time.time()


def _check(
    metadata: dict[str, Any], result: RateResult, stats: ReapStats, closed_at: float
) -> None:
    """Fill `result` from metadata.json and what the reaper found, recording every mismatch."""
    problems = result.problems
    problems.extend(stats.problems)
    result.stop_reason = metadata.get("stop_reason", "unknown")
    result.frames_acquired = metadata.get("frames_acquired", 0)
    result.frames_dropped = metadata.get("frames_dropped", 0)
    result.frames_missing = metadata.get("frames_missing", 0)
    result.volumes_saved = stats.volumes
    result.file_bytes, result.pixel_bytes = stats.file_bytes, stats.pixel_bytes
    result.peak_sink_mb = stats.peak_bytes_on_sink / MB
    result.achieved_fps = stats.achieved_fps
    if stats.first_frame is not None:
        result.seconds = closed_at - stats.first_frame[1]
        if result.seconds > 0:
            result.gbps = stats.pixel_bytes / result.seconds / GB
    saver = metadata.get("saver", {})
    result.sink_write_gbps = saver.get("write_gbps")
    if saver.get("write_s") and result.seconds > 0:
        result.writing_share = saver["write_s"] / result.seconds
    if result.stop_reason != "completed":
        problems.append(f"stop reason {result.stop_reason!r}")
    expected = result.volumes_requested * PLANES
    if result.frames_acquired != expected:
        problems.append(f"{result.frames_acquired} frames acquired, {expected} requested")
    if stats.rows != result.volumes_requested * PLANES:
        problems.append(f"{stats.rows} planes in the chunk files, {expected} expected")
    if stats.present + result.frames_missing != stats.rows:
        empty = stats.rows - stats.present
        problems.append(f"{empty} empty planes, {result.frames_missing} counted")
    if not stats.first_volume_checked:
        problems.append("the first volume was not checked against the camera")
    preview = result.preview
    if preview is not None and "watcher" in preview:
        result.preview = preview["watcher"].report(stats.volume_done_ts)
    result.data_ok = not problems


def _delete_image_data(folder: Path) -> None:
    shutil.rmtree(folder / "chunks", ignore_errors=True)
    shutil.rmtree(folder / "perf", ignore_errors=True)
    (folder / "dataset.h5").unlink(missing_ok=True)


def _memory_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: round(v, 1) if isinstance(v, float) else v
        for k, v in row.items()
        if k in ("name", "pid", "peak_rss_mb", "peak_uss_mb", "growth_mb", "samples")
    }

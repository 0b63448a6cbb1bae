"""Sustained end-to-end throughput: simulated camera -> dispatcher -> saver -> HDF5 on disk.

Runs the real pipeline (Session + Acquisition, the code `lightsheet acquire` runs) with
2048 x 2048 uint16 frames at rising frame rates, `--seconds` each, until one fails, then bisects
between the last rate that passed and the first that failed. A rate passes when no frame was
dropped (ring full) or missing (a gap in the saved data), the camera kept its rate and the data
on disk checked out. In the same run it measures what that figure is judged against
(benchmarks/baselines.py): the disk alone (write + fsync into the same folder) and the same
pipeline shape built on pickling multiprocessing queues. Peak memory of every process comes from
benchmarks/memory.py.

The last line printed is one JSON object: pipeline_gbps (to disk, first frame to files closed,
at the highest rate that passed), raw_disk_gbps, queue_gbps, frames_dropped and frames_missing
(of that run), max_zero_drop_fps, pipeline_max_gbps (any run, drops or not) and every run's
figures under "rates".

Every run is checked on disk: volumes in metadata.json, the per-frame table, stamped frame ids in
a sample of saved frames, and the first volume bit for bit against a fresh simulated camera.
Image data is deleted as soon as a run is checked (30 s at 100 frames/s is 25 GB).

    .venv/bin/python benchmarks/throughput.py [--seconds 30] [--rates 10,20,40] [--refine 2]
                                              [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/throughput.py`: find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines import GB, queue_pipeline_gbps, raw_disk_gbps, writable_budget
from benchmarks.memory import MemorySampler
from lightsheet.app.acquisition import Acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session, SessionError
from lightsheet.config import RigConfig
from lightsheet.hardware.camera.factory import open_camera
from lightsheet.hardware.camera.simulated import decode_frame_id
from lightsheet.runtime.logs import setup_process_logging, stop_process_logging
from lightsheet.runtime.shm import SHM_DIR, list_blocks, owner_pid
from lightsheet.storage.run_reader import iter_frames_table, open_run

FRAME_SHAPE = (2048, 2048)
FRAME_BYTES = FRAME_SHAPE[0] * FRAME_SHAPE[1] * 2
PLANES = 10
DEFAULT_RATES = (10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0)
# Fixed exposure, so every rate images the same sample; the readout time sets the rate.
EXPOSURE_MS = 2.0
# A rate passes when the camera delivered at least this share of it (the simulated camera
# delivers late rather than drop when its own loop cannot keep up).
RATE_TOLERANCE = 0.95
POLL_S = 0.02
MEMORY_INTERVAL_S = 1.0
SAMPLED_FRAMES = 16
# Shown in this order when present (the scanner runs only where the session has one).
PIPELINE_PROCESSES = ("scanner", "camera", "dispatcher", "saver", "main")
MB = 1e6


@dataclass
class RateResult:
    """One pipeline run at one requested frame rate, as measured and as found on disk."""

    requested_fps: float
    achieved_fps: float = 0.0
    gbps: float = 0.0
    seconds: float = 0.0
    frames_acquired: int = 0
    frames_dropped: int = 0
    frames_missing: int = 0
    volumes_requested: int = 0
    volumes_saved: int = 0
    stop_reason: str = ""
    data_ok: bool = False
    problems: list[str] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    shared_mb: float = 0.0  # every lightsheet-* shared-memory block of the session

    @property
    def passed(self) -> bool:
        """Zero drops, zero gaps, the camera kept its rate, and the data on disk checked out."""
        return (
            self.data_ok
            and self.frames_dropped == 0
            and self.frames_missing == 0
            and self.achieved_fps >= RATE_TOLERANCE * self.requested_fps
        )

    def verdict(self) -> str:
        """One or two words for the table; `problems` has the details."""
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
        return {
            "requested_fps": self.requested_fps,
            "achieved_fps": round(self.achieved_fps, 2),
            "gbps": round(self.gbps, 4),
            "seconds": round(self.seconds, 2),
            "frames_acquired": self.frames_acquired,
            "frames_dropped": self.frames_dropped,
            "frames_missing": self.frames_missing,
            "volumes_requested": self.volumes_requested,
            "volumes_saved": self.volumes_saved,
            "stop_reason": self.stop_reason,
            "data_ok": self.data_ok,
            "problems": self.problems,
            "passed": self.passed,
            "shared_memory_mb": round(self.shared_mb, 1),
            "memory": [_memory_json(row) for row in self.memory],
        }


def bench_rig(rate_fps: float, planes: int = PLANES) -> RigConfig:
    """The simulated rig at `rate_fps`: full 2048 x 2048 sensor, `planes` planes per volume.

    The camera free-runs (internal trigger), so the rate is exactly what is asked and frame k is
    plane k % planes, whatever the scanner does; the scan is set to the same volume rate.
    Frame ids are stamped into the pixels so a sample of saved frames can be checked cheaply.
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
        }
    )


def run_rate(
    parent: Path,
    rate_fps: float,
    seconds: float,
    planes: int = PLANES,
    processing: dict[str, Any] | None = None,
) -> RateResult:
    """Acquire `seconds` worth of frames at `rate_fps` into a new folder under `parent`, check
    what reached the disk, and delete the image data (metadata.json and logs stay).
    `processing` is the config's processing section (a live processor running meanwhile)."""
    config = bench_rig(rate_fps, planes)
    if processing is not None:
        config = config.updated(processing=processing)
    volumes = max(1, round(rate_fps * seconds / planes))
    result = RateResult(requested_fps=rate_fps, volumes_requested=volumes)
    needed = volumes * planes * FRAME_BYTES
    if needed > writable_budget(parent):
        result.problems.append(f"skipped: {needed / GB:.1f} GB would not leave the disk a margin")
        return result
    folder = prepare_run_folder(
        tempfile.mkdtemp(prefix=f"pipeline-{rate_fps:g}fps-", dir=parent), overwrite=False
    )
    setup_process_logging("main", folder / "logs", config.logging.level)
    sampler = MemorySampler(interval_s=MEMORY_INTERVAL_S)
    sampler.start()
    try:
        with Session(config, log_dir=folder / "logs") as session:
            sampler.set_names({pid: name for name, pid in session.process_pids().items()})
            result.shared_mb = _shared_memory_bytes() / MB
            try:
                closed_at = _acquire(session, folder, volumes, seconds, sampler)
            finally:
                # Sampling ends with the run: once a process has exited, the shared pages the
                # others still map count as theirs alone, which would look like growth.
                sampler.stop()
    except SessionError as exc:
        result.problems.append(f"session failed: {exc}")
        _delete_image_data(folder)
        return result
    finally:
        sampler.stop()
        stop_process_logging()
    result.memory = sampler.report()
    try:
        _check_run(folder, config, result, closed_at)
    except Exception as exc:  # a run too broken to read is a failed check, not a lost benchmark
        result.problems.append(f"could not check the run: {type(exc).__name__}: {exc}")
        result.data_ok = False
    finally:
        _delete_image_data(folder)
    return result


def _acquire(
    session: Session, folder: Path, volumes: int, seconds: float, sampler: MemorySampler
) -> float:
    """Run the acquisition to the saver's close; returns when that was, in time.time()."""
    acquisition = Acquisition(session, folder, volumes=volumes, extra_metadata={"benchmark": True})
    acquisition.start()
    deadline = time.monotonic() + 2 * seconds + 60.0  # a camera at half speed still finishes
    steady = False
    closed_at: float | None = None
    try:
        while not acquisition.ended:
            time.sleep(POLL_S)
            progress = acquisition.poll()
            if not steady and progress.frames_acquired > 0:
                sampler.restart_growth()  # the camera has rendered its planes: start-up is over
                steady = True
            if time.monotonic() > deadline:
                acquisition.interrupt("benchmark deadline passed")
                break
        else:
            closed_at = time.time()  # the saver has closed (and fsynced) the run's files
    except KeyboardInterrupt:
        acquisition.interrupt("interrupted")  # end the run now; the files still close cleanly
        raise
    finally:
        acquisition.finish()
    return closed_at or time.time()


def _check_run(folder: Path, config: RigConfig, result: RateResult, closed_at: float) -> None:
    """Fill `result` from metadata.json and the files, recording every mismatch as a problem.

    Throughput is the image bytes on disk over the time from the first frame's host timestamp
    to the moment the saver had closed and fsynced the last chunk.
    """
    metadata = json.loads((folder / "metadata.json").read_text())
    planes = config.scanning.n_planes
    result.stop_reason = metadata["stop_reason"]
    result.frames_acquired = metadata["frames_acquired"]
    result.frames_dropped = metadata["frames_dropped"]
    result.frames_missing = metadata["frames_missing"]
    result.volumes_saved = metadata["volumes_saved"]
    problems = result.problems
    if result.stop_reason != "completed":
        problems.append(f"stop reason {result.stop_reason!r}")
    expected_frames = result.volumes_requested * planes
    if result.frames_acquired != expected_frames:
        problems.append(f"{result.frames_acquired} frames acquired, {expected_frames} requested")
    if result.volumes_saved * planes != result.frames_acquired:
        problems.append(
            f"{result.volumes_saved} volumes saved for {result.frames_acquired} frames acquired"
        )
    table = iter_frames_table(folder)
    present = table[table["present"]]
    if len(present):
        result.seconds = closed_at - float(present["host_ts"][0])
        saved_bytes = result.volumes_saved * planes * FRAME_BYTES
        result.gbps = saved_bytes / result.seconds / GB if result.seconds > 0 else 0.0
    if len(present) > 1:
        # Frame ids count every frame the camera read, dropped or not: the camera's own rate.
        span = float(present["host_ts"][-1] - present["host_ts"][0])
        frames = int(present["frame_id"][-1] - present["frame_id"][0])
        result.achieved_fps = frames / span if span > 0 else 0.0
    lost = result.frames_dropped + result.frames_missing
    if not lost and present["frame_id"].tolist() != list(range(expected_frames)):
        problems.append("frame ids in the per-frame table are not 0..N-1 in order")
    placed = present["volume"] * planes + present["plane"]
    if not np.array_equal(present["frame_id"], placed):
        problems.append("frames saved away from the plane their frame id names")
    if len(table) != result.volumes_saved * planes:
        problems.append(f"{len(table)} rows in the per-frame table, {result.volumes_saved} volumes")
    if len(present) + result.frames_missing != len(table):
        problems.append(
            f"{len(table) - len(present)} empty planes, {result.frames_missing} counted"
        )
    problems.extend(_check_pixels(folder, config, table))
    result.data_ok = not problems


def _check_pixels(folder: Path, config: RigConfig, table: np.ndarray) -> list[str]:
    """Stamped ids of frames spread over the run, and the first volume against the camera."""
    problems = []
    data = open_run(folder)
    try:
        volumes = len(table) // config.scanning.n_planes
        if data.shape != (volumes, config.scanning.n_planes, *FRAME_SHAPE) or not volumes:
            return [f"saved data has shape {data.shape} for {len(table)} table rows"]
        rows = np.flatnonzero(table["present"])
        picks = rows[np.linspace(0, len(rows) - 1, min(SAMPLED_FRAMES, len(rows))).astype(int)]
        for row in picks:
            volume, plane = int(table["volume"][row]), int(table["plane"][row])
            stamped = decode_frame_id(data[volume, plane])
            if stamped != int(table["frame_id"][row]):
                problems.append(f"volume {volume} plane {plane} holds frame {stamped}")
        first_volume = data[0]
    finally:
        data.file.close()
    expected = _first_frames(config, config.scanning.n_planes)
    if len(expected) < config.scanning.n_planes:
        problems.append("the reference camera produced too few frames")
    differ = [
        plane
        for plane, frame in enumerate(expected)
        if table["present"][plane] and not np.array_equal(first_volume[plane], frame)
    ]
    if differ:
        dark = [p for p in differ if _looks_dark(first_volume[p], config)]
        problems.append(
            f"frame(s) {differ} of the first volume differ from the camera's"
            + (f", {dark} of them dark (laser blanked?)" if dark else "")
        )
    return problems


def _looks_dark(frame: np.ndarray, config: RigConfig) -> bool:
    """No photons at all: every pixel (past the stamped id) within the camera's offset + noise."""
    simulated = config.camera.simulated
    return bool(frame.reshape(-1)[4:].max() <= simulated.dark_offset + 6 * simulated.read_noise)


def _first_frames(config: RigConfig, count: int) -> list[np.ndarray]:
    """The first frames a fresh simulated camera with this config produces (it is seeded;
    the readout time changes only when frames come, not what they show)."""
    settings = config.camera.model_copy(update={"readout_ms": 0.0})
    camera = open_camera(settings, config.scanning.z_positions_um())
    frames = []
    try:
        camera.start()
        for _ in range(count):
            frame = np.empty(camera.frame_shape, dtype=np.uint16)
            if camera.read_into(frame, timeout_s=10.0) is None:
                break
            frames.append(frame)
    finally:
        camera.close()
    return frames


def _shared_memory_bytes() -> int:
    """Size of the shared-memory blocks this process owns: the session's rings and buffers."""
    return sum(
        (SHM_DIR / name).stat().st_size for name in list_blocks() if owner_pid(name) == os.getpid()
    )


def _delete_image_data(folder: Path) -> None:
    """Chunk files and dataset.h5 go at once; metadata.json and logs are small and kept."""
    shutil.rmtree(folder / "chunks", ignore_errors=True)
    (folder / "dataset.h5").unlink(missing_ok=True)


def _memory_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: round(v, 1) if isinstance(v, float) else v
        for k, v in row.items()
        if k in ("name", "pid", "peak_rss_mb", "peak_uss_mb", "growth_mb", "samples")
    }


def _by_name(memory: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in memory}


# -- output ------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[RateResult]) -> None:
    """One line per rate: what was asked, what reached the disk, drops, memory of each process."""
    seen = {row["name"] for r in results for row in r.memory}
    names = [n for n in PIPELINE_PROCESSES if n in seen] or list(PIPELINE_PROCESSES)
    memory_head = " ".join(f"{n:>10}" for n in names)
    print()
    print(
        f"{'rate':>6} {'achieved':>8} {'to disk':>7} {'dropped':>7} {'missing':>7} "
        f"{'volumes':>9}  {'peak RSS (MB)':^{11 * len(names) - 1}}  {'USS growth':>10}  result"
    )
    units = f"{'fps':>6} {'fps':>8} {'GB/s':>7} {'':>7} {'':>7} {'':>9}"
    print(f"{units}  {memory_head}  {'max (MB)':>10}")
    for r in results:
        memory = _by_name(r.memory)
        rss = " ".join(f"{_fmt(memory.get(n, {}).get('peak_rss_mb')):>10}" for n in names)
        growth = [memory[n]["growth_mb"] for n in names if memory.get(n, {}).get("growth_mb")]
        print(
            f"{r.requested_fps:>6g} {r.achieved_fps:>8.1f} {r.gbps:>7.3f} {r.frames_dropped:>7d} "
            f"{r.frames_missing:>7d} {f'{r.volumes_saved}/{r.volumes_requested}':>9}  {rss}  "
            f"{_fmt(max(growth, default=0.0), '+.1f'):>10}  {r.verdict()}"
        )


def print_memory(result: RateResult) -> None:
    """Every process of one run: peak RSS counts the shared rings each one maps, peak USS only
    its private memory, and USS growth is measured from the first frame to the end of the run."""
    print()
    print(
        f"memory at {result.requested_fps:g} frames/s (shared memory of the session: "
        f"{result.shared_mb:.0f} MB, counted in the RSS of every process that touches it)"
    )
    print(f"{'process':>16} {'peak RSS MB':>12} {'peak USS MB':>12} {'USS growth MB':>14}")
    for row in result.memory:
        print(
            f"{row['name']:>16} {row['peak_rss_mb']:>12.0f} {row['peak_uss_mb']:>12.0f} "
            f"{_fmt(row['growth_mb'], '+.1f'):>14}"
        )


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f} x"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # Errors, and the benchmark's own warnings, reach the terminal; all goes to logs/main.log.
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.addFilter(
        lambda record: record.levelno >= logging.ERROR or record.name.startswith("benchmarks")
    )
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(console)
    out, created = _output_folder(args.out)
    try:
        return _benchmark(out, args)
    except KeyboardInterrupt:
        print("interrupted: the runs so far are discarded", file=sys.stderr)
        return 130
    finally:
        if created and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        elif not args.keep:
            for child in out.glob("pipeline-*fps-*"):
                shutil.rmtree(child, ignore_errors=True)


def ramp(
    out: Path,
    rates: list[float],
    seconds: float,
    refine: int,
    processing: dict[str, Any] | None = None,
) -> list[RateResult]:
    """Step up through `rates` until one fails, then bisect `refine` times between the last
    rate that passed and the first that failed (to whole frames/s); results sorted by rate."""
    results: list[RateResult] = []

    def attempt(rate: float) -> RateResult:
        print(f"pipeline at {rate:g} frames/s ...", flush=True)
        result = run_rate(out, rate, seconds, processing=processing)
        results.append(result)
        print(
            f"  {result.achieved_fps:.1f} frames/s, {result.gbps:.3f} GB/s, "
            f"{result.frames_dropped} dropped, {result.frames_missing} missing: {result.verdict()}",
            flush=True,
        )
        for problem in result.problems:
            print(f"  {problem}", flush=True)
        return result

    passed = 0.0
    failed = None
    for rate in rates:
        if not attempt(rate).passed:
            failed = rate
            break
        passed = rate
    for _ in range(refine if failed is not None and passed else 0):
        middle = float(round((passed + failed) / 2))
        if middle <= passed or middle >= failed:
            break
        if attempt(middle).passed:
            passed = middle
        else:
            failed = middle
    return sorted(results, key=lambda r: r.requested_fps)


def _benchmark(out: Path, args: argparse.Namespace) -> int:
    seconds, rates = args.seconds, args.rates
    print(
        f"lightsheet throughput: {FRAME_SHAPE[1]} x {FRAME_SHAPE[0]} uint16 frames "
        f"({FRAME_BYTES / MB:.1f} MB), {PLANES} planes per volume, {seconds:g} s per rate, "
        f"into {out}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs; figures are noisy when other work runs on it "
        "(GB = 1e9 bytes, MB = 1e6 bytes)",
        flush=True,
    )
    raw = raw_disk_gbps(out, FRAME_SHAPE, seconds)
    print(
        f"raw disk (write + fsync):      {raw['gbps']:.3f} GB/s  "
        f"({raw['bytes'] / GB:.1f} GB in {raw['seconds']:.1f} s)",
        flush=True,
    )
    queue_memory = MemorySampler(interval_s=MEMORY_INTERVAL_S)
    with queue_memory:
        queue = queue_pipeline_gbps(
            out, FRAME_SHAPE, PLANES, seconds, on_spawn=queue_memory.set_names
        )
    queue_rss = {
        row["name"]: row["peak_rss_mb"]
        for row in queue_memory.report()
        if row["name"].startswith("queue-")
    }
    print(
        f"pickling-queue pipeline:       {queue['gbps']:.3f} GB/s  "
        f"({queue['frames']} frames in {queue['seconds']:.1f} s; peak RSS MB "
        + ", ".join(f"{n.removeprefix('queue-')} {v:.0f}" for n, v in queue_rss.items())
        + ")",
        flush=True,
    )

    results = ramp(out, rates, seconds, args.refine)
    print_table(results)
    if results and results[-1].memory:
        print_memory(results[-1])

    passing = [r for r in results if r.passed]
    best = max(passing, key=lambda r: r.requested_fps) if passing else None
    # The figure compared is the highest rate sustained without a drop; with none, the first run.
    reported = best or (results[0] if results else None)
    pipeline_gbps = reported.gbps if reported else None
    print()
    if best is not None:
        print(
            f"highest rate with zero dropped frames: {best.requested_fps:g} frames/s requested, "
            f"{best.achieved_fps:.1f} achieved, {best.gbps:.3f} GB/s to disk"
        )
    else:
        print("no rate ran without dropped frames")
    print(f"ours:                  {_fmt(pipeline_gbps, '.3f')} GB/s")
    print(
        f"raw disk:              {raw['gbps']:.3f} GB/s   ours / raw disk = "
        f"{_ratio(pipeline_gbps, raw['gbps'])} (target >= 0.7 x)"
    )
    print(
        f"pickling queue:        {queue['gbps']:.3f} GB/s   ours / queue    = "
        f"{_ratio(pipeline_gbps, queue['gbps'])} (target >= 3 x)"
    )
    leftover = [name for name in list_blocks() if owner_pid(name) == os.getpid()]
    if leftover:
        print(f"shared memory left behind: {', '.join(leftover)}")
    summary = {
        "pipeline_gbps": None if pipeline_gbps is None else round(pipeline_gbps, 4),
        "raw_disk_gbps": round(raw["gbps"], 4),
        "queue_gbps": round(queue["gbps"], 4),
        "frames_dropped": reported.frames_dropped if reported else None,
        "frames_missing": reported.frames_missing if reported else None,
        "max_zero_drop_fps": best.requested_fps if best else None,
        "max_zero_drop_achieved_fps": round(best.achieved_fps, 2) if best else None,
        "pipeline_max_gbps": round(max((r.gbps for r in results), default=0.0), 4),
        "seconds_per_rate": seconds,
        "frame_shape": list(FRAME_SHAPE),
        "planes": PLANES,
        "cpus": os.cpu_count(),
        "rates": [r.as_json() for r in results],
        "queue_peak_rss_mb": {k: round(v, 1) for k, v in queue_rss.items()},
        "shm_left": leftover,
    }
    print(json.dumps(summary))
    return 0 if best is not None and not leftover else 1


def _output_folder(out: str | None) -> tuple[Path, bool]:
    """(folder, created by us): --out as given, else a new runs/bench-* under the cwd."""
    if out is None:
        runs = Path.cwd() / "runs"
        runs.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="bench-", dir=runs)), True
    folder = Path(out).expanduser().resolve()
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    return folder, created


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None
    if not rates or any(not math.isfinite(r) or r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive frames/s: {text}")
    return sorted(rates)


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sustained camera -> dispatcher -> saver -> disk throughput (issue 3)."
    )
    parser.add_argument(
        "--rates",
        type=_rates,
        default=list(DEFAULT_RATES),
        help="frame rates to step through, frames/s; the ramp stops at the first that fails "
        f"(default: {','.join(f'{r:g}' for r in DEFAULT_RATES)})",
    )
    parser.add_argument(
        "--refine",
        type=int,
        default=2,
        help="after the first failing rate, bisect this many times between it and the last "
        "rate that passed (default 2; 0 to stop at once)",
    )
    parser.add_argument(
        "--seconds", type=_seconds, default=30.0, help="acquisition time per rate (default 30)"
    )
    parser.add_argument(
        "--out",
        help="folder to write into (default: a new runs/bench-* under the current directory)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep each run's metadata.json and logs afterwards (image data is always deleted)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())

"""Soak: one long run of the real pipeline at a steady rate, watching for anything that grows.

Runs the simulated rig (2048 x 2048 uint16, 10 planes per volume, free-running camera) for
`--minutes` at `--rate` frames/s (or `--fraction` of a zero-drop rate given with `--max-rate`),
and every `--interval` seconds samples, for each process (camera, dispatcher, saver, scanner and
the main process): USS (its private memory, not the pages of the run's chunk files that the saver
maps while it copies a volume into one on a tmpfs at ``huge=advise``: those are the file's, and
stay in the tmpfs when it unmaps them), open file descriptors and threads, plus the
session's `lightsheet-*` shared-memory blocks and each process's CPU time. It reports dropped
and missing frames, USS at the start and the end of the steady state and its slope (least
squares over every sample, MB per minute), descriptors, threads and blocks at the start and the
end (and blocks left after the session closed), and the CPU per frame of each process in the
first and last fifth of the run, which shows work that grows with the run's length.

Side by side, after the soak and into the same folder (``--raw-minutes``, 3 by default): the raw
write of the same bytes as the saver writes them there (``O_DIRECT`` on a disk, plain on a tmpfs),
in files of a chunk's size deleted as it goes, as the soak's are. A 10 s throughput run's edge
can be a disk's burst; this is what the disk keeps up for minutes, beside what the soak saved.

Disk use stays bounded whatever the length: each chunk file is checked and deleted as soon as the
saver has completed it (``reaper.py`` says why this changes nothing the saver or the disk does).
Only this process's blocks are counted (other sessions on a shared machine have their own).

    .venv/bin/python benchmarks/soak.py [--minutes 30] (--rate FPS | --fraction 0.8 --max-rate FPS)
                                        [--sink disk|tmpfs] [--out DIR] [--interval 10]
                                        [--frame-ring-mb MB] [--raw-minutes 3]
                                        [--compression blosc-lz4]

With ``--compression`` the run compresses as ``saving.compression`` says and the raw write beside
it stays uncompressed: pixels saved per second against what the disk itself sustains.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

if __package__ in (None, ""):  # run as `python benchmarks/soak.py`: find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cpu
from benchmarks.memory import uss_outside
from benchmarks.pipeline_run import (
    FRAME_BYTES,
    FRAME_SHAPE,
    PLANES,
    STARTUP_TRIES,
    bench_rig,
    first_frames,
    sink_chunk_mb,
    startup_failed,
)
from benchmarks.raw_write import raw_disk_gbps
from benchmarks.reaper import ChunkReaper, ReapStats
from benchmarks.sinks import make_sink_folder, remove_sink_folder
from benchmarks.soak_figures import cpu_windows, process_figures, steady_samples
from lightsheet.app.acquisition import Acquisition, Outcome
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session, SessionError
from lightsheet.cli.parser import OneLineParser, positive_float
from lightsheet.config.base import BYTES_PER_MB
from lightsheet.runtime.logs import setup_process_logging, stop_process_logging
from lightsheet.runtime.shm import list_blocks, owner_pid
from lightsheet.storage.compression import COMPRESSIONS
from lightsheet.storage.mapped_fill import maps_huge_pages

MB = 1e6
POLL_S = 0.1


def our_blocks() -> list[str]:
    return [name for name in list_blocks() if owner_pid(name) == os.getpid()]


def sample(pids: dict[str, int], frames: int, run_dir: Path) -> dict[str, Any]:
    """One row: per process USS (MB), fds, threads; our shared-memory blocks; CPU times."""
    row: dict[str, Any] = {"t": time.monotonic(), "frames": frames, "processes": {}}
    for name, pid in {**cpu.with_helpers(pids), "main": os.getpid()}.items():
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                uss = uss_outside(pid, run_dir)
                if uss is None:  # its smaps unreadable: gone, or not ours to read
                    continue
                row["processes"][name] = {
                    "uss_mb": uss / MB,
                    "fds": process.num_fds(),
                    "threads": process.num_threads(),
                }
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    row["shm_blocks"] = len(our_blocks())
    row["cpu"] = cpu.snapshot(pids, frames)
    return row


def soak(folder: Path, rate: float, minutes: float, interval_s: float,
         frame_ring_mb: float | None = None,
         compression: str = "none") -> dict[str, Any]:  # fmt: skip
    """`soak_once`, tried again when a process was found hung before the first frame (the
    simulated camera rendering its planes on a busy machine); those tries are reported."""
    failures: list[str] = []
    for _ in range(STARTUP_TRIES):
        report = soak_once(folder, rate, minutes, interval_s, frame_ring_mb, compression)
        if not startup_failed(report["problems"], report["frames_acquired"] or 0):
            break
        failures.append(report["problems"][0])
    report["startup_failures"] = failures
    return report


def soak_once(folder: Path, rate: float, minutes: float, interval_s: float,
              frame_ring_mb: float | None = None,
              compression: str = "none") -> dict[str, Any]:  # fmt: skip
    """Run the soak into `folder`; returns every figure of the report."""
    config = bench_rig(rate, compression, frame_ring_mb=frame_ring_mb,
                       chunk_ram_mb=sink_chunk_mb(folder))  # fmt: skip
    run_dir = prepare_run_folder(tempfile.mkdtemp(prefix="soak-", dir=folder), overwrite=False)
    reaper = ChunkReaper(run_dir, PLANES, first_frames(config))
    setup_process_logging("main", run_dir / "logs", config.logging.level)
    samples: list[dict[str, Any]] = []
    outcome: Outcome | None = None
    problems: list[str] = []
    try:
        with Session(config, log_dir=run_dir / "logs") as session:
            reaper.start()
            outcome = _run(session, run_dir, minutes, interval_s, samples, reaper)
    except SessionError as exc:
        problems.append(f"session failed: {exc}")
    finally:
        stop_process_logging()
        stats = reaper.finish()
    left = our_blocks()
    report = _report(samples, stats, outcome, rate, minutes, problems)
    report["shm_blocks_after_close"] = len(left)
    report["frame_ring_mb"] = config.buffers.frame_ring_mb
    report["compression"] = compression
    report["chunk_bytes"] = int(config.saving.chunk_ram_mb * BYTES_PER_MB)
    if left:
        report["problems"].append(f"shared memory left after the session closed: {left}")
    report["data_ok"] = not report["problems"]
    return report


def raw_beside(folder: Path, sink: str, minutes: float, chunk_bytes: int) -> dict[str, Any] | None:
    """The sink's own sustained rate, written as the saver writes there, chunk files deleted as
    the soak's are (see the module docstring); None when the folder refuses that way."""
    way = "direct" if sink == "disk" else "mapped" if maps_huge_pages(folder) else "plain"
    raw = raw_disk_gbps(folder, FRAME_SHAPE, minutes * 60, way=way, file_bytes=chunk_bytes)
    if raw is None:
        return None
    return {"way": way, "minutes": minutes, "file_mb": round(chunk_bytes / MB),
            "gbps": round(raw["gbps"], 3), "slowest_window_gbps": raw["slowest_window_gbps"],
            "files": raw["files"]}  # fmt: skip


def _run(session: Session, run_dir: Path, minutes: float, interval_s: float,
         samples: list[dict[str, Any]], reaper: ChunkReaper) -> Outcome:  # fmt: skip
    pids = session.process_pids()
    acquisition = Acquisition(session, run_dir, duration_s=minutes * 60,
                              extra_metadata={"benchmark": "soak"})  # fmt: skip
    acquisition.start()
    next_sample = 0.0
    try:
        while not acquisition.ended:
            time.sleep(POLL_S)
            progress = acquisition.poll()
            now = time.monotonic()
            if progress.frames_acquired > 0 and now >= next_sample:
                samples.append(sample(pids, progress.frames_acquired, run_dir))
                next_sample = now + interval_s
                _print_progress(progress.frames_acquired, progress.frames_dropped, samples)
        samples.append(sample(pids, acquisition.poll().frames_acquired, run_dir))  # closed
    except KeyboardInterrupt:
        acquisition.interrupt("interrupted")
        raise
    finally:
        reaper.pause()  # the files stay while finish() reads them
        outcome = acquisition.finish()
    return outcome


def _print_progress(frames: int, dropped: int, samples: list[dict[str, Any]]) -> None:
    elapsed = samples[-1]["t"] - samples[0]["t"]
    uss = ", ".join(f"{n} {p['uss_mb']:.0f}" for n, p in samples[-1]["processes"].items())
    print(f"  {elapsed / 60:5.1f} min: {frames} frames, {dropped} dropped; USS MB {uss}",
          flush=True)  # fmt: skip


def _report(samples: list[dict[str, Any]], stats: ReapStats, outcome: Outcome | None,
            rate: float, minutes: float, problems: list[str]) -> dict[str, Any]:  # fmt: skip
    problems = list(problems) + stats.problems
    if outcome is None:
        problems.append("the run did not finish")
    elif outcome.stop_reason != "completed":
        problems.append(f"stop reason {outcome.stop_reason!r}")
    if outcome is not None and stats.present + outcome.frames_missing != stats.rows:
        problems.append(f"{stats.rows - stats.present} empty planes, {outcome.frames_missing} "
                        "counted")  # fmt: skip
    steady = steady_samples(samples)
    first_cpu, last_cpu = cpu_windows(samples)
    return {
        "minutes": minutes,
        "rate_fps": rate,
        "gbps": round(rate * FRAME_BYTES / 1e9, 4),
        "achieved_fps": round(stats.achieved_fps, 2),
        "frames_acquired": outcome.frames_acquired if outcome else None,
        "frames_dropped": outcome.frames_dropped if outcome else None,
        "frames_missing": outcome.frames_missing if outcome else None,
        "volumes_saved": stats.volumes,
        "chunks_checked": stats.chunks,
        "peak_sink_mb": round(stats.peak_bytes_on_sink / MB, 1),
        "steady_minutes": round((steady[-1]["t"] - steady[0]["t"]) / 60, 2) if steady else 0,
        "samples": len(samples),
        "processes": process_figures(samples) if steady else {},
        "shm_blocks_start": steady[0]["shm_blocks"] if steady else None,
        "shm_blocks_end": steady[-1]["shm_blocks"] if steady else None,
        "cpu_ms_per_frame_first": first_cpu,
        "cpu_ms_per_frame_last": last_cpu,
        "saved_gbps": _saved_gbps(outcome, minutes),
        "problems": problems,
    }


def _saved_gbps(outcome: Outcome | None, minutes: float) -> float | None:
    if outcome is None:
        return None
    saved = outcome.frames_acquired - outcome.frames_dropped
    return round(saved * FRAME_BYTES / (minutes * 60) / 1e9, 4)


def print_report(report: dict[str, Any]) -> None:
    print()
    codec = report.get("compression", "none")
    pixels = "" if codec == "none" else f" of pixels, {codec}"
    print(f"soak: {report['minutes']:g} min at {report['rate_fps']:g} frames/s "
          f"({report['gbps']:.3f} GB/s{pixels}), camera achieved "
          f"{report['achieved_fps']:.1f} frames/s; "
          f"{report['frames_acquired']} frames, {report['frames_dropped']} dropped, "
          f"{report['frames_missing']} missing, {report['volumes_saved']} volumes checked; "
          f"sink peak {report['peak_sink_mb']:.0f} MB")  # fmt: skip
    head = (f"{'process':>10} {'USS start':>9} {'USS end':>8} {'growth':>7} {'MB/min':>7} "
            f"{'fds':>9} {'threads':>9} {'CPU ms/frame first':>19} {'last':>6}")  # fmt: skip
    print(head)
    first, last = report["cpu_ms_per_frame_first"], report["cpu_ms_per_frame_last"]
    for name, p in report["processes"].items():
        slope = p["uss_slope_mb_per_min"]
        cpu_first = first.get(name, {}).get("total_ms")
        cpu_last = last.get(name, {}).get("total_ms")
        print(f"{name:>10} {p['uss_start_mb']:>9.1f} {p['uss_end_mb']:>8.1f} "
              f"{p['uss_growth_mb']:>+7.1f} {'-' if slope is None else format(slope, '+.2f'):>7} "
              f"{p['fds_start']:>4}->{p['fds_end']:<4} {p['threads_start']:>4}->"
              f"{p['threads_end']:<4} {_ms(cpu_first):>19} {_ms(cpu_last):>6}")  # fmt: skip
    print(f"lightsheet-* shared-memory blocks of this session: {report['shm_blocks_start']} at "
          f"the start, {report['shm_blocks_end']} at the end, "
          f"{report['shm_blocks_after_close']} after it closed")  # fmt: skip
    raw = report.get("raw")
    if raw is not None:
        slowest = raw["slowest_window_gbps"]
        print(f"saved {report['saved_gbps']} GB/s; the raw write into the same sink "
              f"({raw['way']}, {raw['minutes']:g} min, {raw['file_mb']} MB files deleted as it "
              f"went): {raw['gbps']:.3f} GB/s, slowest 5 s "
              f"{'-' if slowest is None else format(slowest, '.3f')} GB/s")  # fmt: skip
    for problem in report["problems"]:
        print(f"problem: {problem}")
    for failure in report.get("startup_failures", []):
        print(f"tried again after a start-up failure: {failure}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(description="Soak: a long run at a steady rate (issue 10).")
    parser.add_argument("--minutes", type=positive_float, default=30.0, help="run length (30)")
    parser.add_argument("--rate", type=positive_float, help="frames/s")
    parser.add_argument("--fraction", type=positive_float, help="share of --max-rate, e.g. 0.8")
    parser.add_argument(
        "--max-rate",
        type=positive_float,
        help="highest zero-drop rate, frames/s (benchmarks/throughput.py)",
    )
    parser.add_argument(
        "--sink",
        choices=("disk", "tmpfs"),
        default="disk",
        help="disk: a folder under --out (default runs/); tmpfs: /dev/shm",
    )
    parser.add_argument("--out", help="parent folder on disk (default runs/ under the cwd)")
    parser.add_argument("--interval", type=positive_float, default=10.0,
                        help="seconds between samples (10)")  # fmt: skip
    parser.add_argument("--frame-ring-mb", type=positive_float,
                        help="the frame ring's size (default: the config's)")  # fmt: skip
    parser.add_argument("--compression", choices=COMPRESSIONS, default="none",
                        help="saving.compression of the run (none); the raw write beside it "
                        "stays uncompressed, so pixels saved compare with what the disk "
                        "sustains")  # fmt: skip
    parser.add_argument("--raw-minutes", type=float, default=3.0,
                        help="the raw write beside the soak, minutes (3; 0: none)")  # fmt: skip
    args = parser.parse_args(argv)
    if (args.rate is None) == (args.fraction is None):
        parser.error("give either --rate or --fraction with --max-rate")
    if args.fraction is not None and args.max_rate is None:
        parser.error("--fraction needs --max-rate (the highest zero-drop rate)")
    if args.fraction is not None and args.fraction > 1:
        parser.error("--fraction must be at most 1")
    if not (math.isfinite(args.raw_minutes) and args.raw_minutes >= 0):
        parser.error("--raw-minutes must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    rate = args.rate if args.rate is not None else args.fraction * args.max_rate
    logging.getLogger().addHandler(logging.NullHandler())
    disk_parent = Path(args.out or Path.cwd() / "runs").expanduser().resolve()
    folder = make_sink_folder(args.sink, disk_parent)
    compressed = "" if args.compression == "none" else f", {args.compression}"
    print(f"soak: {args.minutes:g} min at {rate:g} frames/s into {folder} ({args.sink}"
          f"{compressed}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    try:
        report = soak(folder, rate, args.minutes, args.interval, args.frame_ring_mb,
                      args.compression)  # fmt: skip
        if args.raw_minutes > 0:
            report["raw"] = raw_beside(folder, args.sink, args.raw_minutes, report["chunk_bytes"])
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        remove_sink_folder(folder)
    report["sink"] = args.sink
    report["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print_report(report)
    print(json.dumps(report))
    return 0 if report["data_ok"] and not report["frames_dropped"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Sustained throughput of the frame path, against the sink it writes to, side by side in one run.

For each sink (`--sink tmpfs|disk|both`; tmpfs is /dev/shm, disk a folder under `--out`):

- the raw write of the same bytes into the same sink (`os.write` of a prepared frame, then
  fsync): the sink's limit;
- the pickling-queue pipeline and a sashimi-style pipeline (shared-memory array queues), both
  built in benchmarks/ as baselines; the sashimi-style one twice: with a camera that waits for a
  free slot, and as lightsheet is measured, its highest zero-drop rate with a free-running
  camera and queues as large as lightsheet's rings (``sashimi_ramp.py``), the figure compared;
- on a tmpfs lightsheet's runs use 256 MB chunks (``pipeline_run.sink_chunk_mb``), the raw
  write goes into files of that size and the sashimi-style baseline's chunk files are deleted
  as they complete, as the reaper deletes lightsheet's checked chunks there: each writes into
  pages the sink has freed (``raw_write.raw_as_the_pipeline_writes``). The
  pickling-queue baseline keeps its one file, into fresh pages (at a tenth of the rate);
- lightsheet itself (Session + Acquisition, what `lightsheet acquire` runs), 2048 x 2048 uint16
  frames at rising rates, `--seconds` each, until one drops a frame, then bisecting: the highest
  zero-drop rate. Every run is checked chunk by chunk as it is written (frame ids, per-frame
  table, stamped ids in the pixels, the first volume bit for bit) and the chunks are deleted
  once checked, so disk and RAM use stay bounded (benchmarks/reaper.py);
- the raw write once more after the ramp, its fastest way (``raw_after_ramp_gbps``): a disk's
  speed moves between minutes, which one figure from before the ramp does not show; the
  targets stay against that first figure; and the sink's speed during each of lightsheet's
  runs as its saver timed its own writes (``saver_write_gbps``, metadata.json ``saver``), with
  the share of the run it spent writing: near 100 % the sink, not the pipeline, set the rate;
- at that rate, one more run with `perf` on every process: CPU per frame, user and kernel (the
  OS's accounting), the functions the time goes to, and the copies of each frame measured.

Then, on the disk: the same ramp with `saving.compression: blosc-lz4` (pixels saved per second
against the raw disk) and the compression ratio and speed of the simulated sample; and the
preview: one run at the highest zero-drop rate with a GUI-like reader watching the preview
(latency camera -> preview buffer, p50/p99, and the rate with and without it).

The last line printed is one JSON object (keys listed in `summary`).

    .venv/bin/python benchmarks/throughput.py [--sink both] [--quick] [--seconds 30]
                                              [--rates 10,20,40,...] [--refine 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/throughput.py`: find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import report
from benchmarks.baselines import queue_pipeline_gbps
from benchmarks.compression import compression_figures
from benchmarks.perf_profile import copies_per_frame, memcpy_ms, perf_missing
from benchmarks.pipeline_run import (
    FRAME_BYTES,
    FRAME_SHAPE,
    PLANES,
    RateResult,
    RunOptions,
    bench_rig,
    sink_chunk_mb,
)
from benchmarks.pipeline_run import run_rate as run_pipeline
from benchmarks.rate_search import bisect_rates
from benchmarks.raw_write import RAW_WAYS, raw_as_the_pipeline_writes, raw_disk_gbps
from benchmarks.sashimi import CHUNK_BYTES, sashimi_pipeline_gbps
from benchmarks.sashimi_ramp import ring_slots, sashimi_zero_drop
from benchmarks.sinks import (
    SINKS,
    describe,
    is_tmpfs,
    make_sink_folder,
    remove_sink_folder,
    ring_huge_page_share,
)
from lightsheet.cli.parser import OneLineParser, positive_float
from lightsheet.config.base import BYTES_PER_MB
from lightsheet.runtime.shm import list_blocks, owner_pid
from lightsheet.storage.mapped_fill import maps_huge_pages

DEFAULT_RATES = (10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0)
QUICK_RATES = (20.0, 40.0, 60.0, 80.0, 100.0, 130.0, 160.0)
QUICK_SECONDS = 5.0
PROFILE_S = 4.0
PREVIEW_LOWER = 0.8  # the preview is also measured at this share of the zero-drop rate
COMPRESSED_STEPS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)  # times the disk's zero-drop rate
# Copies of each frame's pixels between the camera's buffer (the frame ring slot the camera
# reads into) and the write into the file, counted by reading the code path:
#   dispatcher: the frame stays in its slot, the volume slot names it (held_frames.py)     0
#     (copy_frame() into the volume slot instead when the dark frame is subtracted or the
#     frame ring has no room to hold it: the dispatcher counts those, ``frames_copied``)
#   saver, none: H5Dwrite_chunk straight from the frame slot (write(2) into the file)       0
#   saver, blosc: Blosc2 reads the plane in the frame slot and writes its compressed
#     frame (a third of the bytes), which H5Dwrite_chunk writes as it is                   0
#   preview watched: each plane of a previewed volume (<= preview_hz volumes/s) copied  +1
#     into the preview buffer's back slot as it arrives; the volume's end switches slots
COPIES_BY_CODE = {"none": 0, "blosc-lz4": 0, "blosc-zstd": 0}


def ramp(folder: Path, rates: list[float], seconds: float, refine: int,
         options: RunOptions, sink: str) -> list[RateResult]:  # fmt: skip
    """Step up through `rates` until one fails, then bisect `refine` times (whole frames/s)."""
    results: list[RateResult] = []

    def attempt(rate: float) -> bool:
        label = f"{sink}, {options.compression}" if options.compression != "none" else sink
        print(f"pipeline at {rate:g} frames/s ({label}) ...", flush=True)
        result = run_pipeline(folder, rate, seconds, options)
        result.sink = sink
        results.append(result)
        print(f"  {result.achieved_fps:.1f} frames/s, {result.gbps:.3f} GB/s, "
              f"{result.frames_dropped} dropped, {result.frames_missing} missing: "
              f"{result.verdict()}", flush=True)  # fmt: skip
        return result.passed

    passed, failed = 0.0, None
    for rate in rates:
        if not attempt(rate):
            failed = rate
            break
        passed = rate
    bisect_rates(attempt, passed, failed, refine)
    return sorted(results, key=lambda r: r.requested_fps)


def _options(args: argparse.Namespace, **chosen: Any) -> RunOptions:
    """Every lightsheet run of the benchmark with the frame ring it was asked for."""
    return RunOptions(frame_ring_mb=args.frame_ring_mb, **chosen)


def best_of(results: list[RateResult]) -> RateResult | None:
    passing = [r for r in results if r.passed]
    return max(passing, key=lambda r: r.requested_fps) if passing else None


def measure_sink(sink: str, folder: Path, args: argparse.Namespace, copy_ms: float) -> dict:
    """Raw write, both baselines, the ramp and a profiled run at the best rate, on one sink."""
    seconds = args.seconds
    print(f"\n== {sink}: {describe(folder)}", flush=True)
    config = bench_rig(100.0, frame_ring_mb=args.frame_ring_mb, chunk_ram_mb=sink_chunk_mb(folder))
    chunk_bytes = int(config.saving.chunk_ram_mb * BYTES_PER_MB)
    plain = raw_as_the_pipeline_writes(folder, FRAME_SHAPE, seconds, chunk_bytes)
    files = f", {plain['files']} files deleted as it went" if plain["files"] > 1 else ""
    print(f"raw write (write + fsync): {plain['gbps']:.3f} GB/s ({plain['bytes'] / 1e9:.1f} GB"
          f"{files})", flush=True)  # fmt: skip
    raw = _sink_limit(folder, plain, seconds, chunk_bytes)
    queue = queue_pipeline_gbps(folder, FRAME_SHAPE, PLANES, seconds)
    print(f"pickling-queue pipeline:   {queue['gbps']:.3f} GB/s", flush=True)
    sweep = is_tmpfs(folder)
    waiting = sashimi_pipeline_gbps(folder, FRAME_SHAPE, PLANES, seconds, sweep=sweep)
    print(f"sashimi-style pipeline, camera waiting for a slot: {waiting['gbps']:.3f} GB/s",
          flush=True)  # fmt: skip
    slots = ring_slots(FRAME_BYTES, PLANES, int(config.buffers.frame_ring_mb * BYTES_PER_MB),
                       int(config.buffers.volume_ring_mb * BYTES_PER_MB))  # fmt: skip
    sashimi = sashimi_zero_drop(folder, FRAME_SHAPE, PLANES, seconds, sweep, CHUNK_BYTES,
                                slots, waiting["gbps"], args.refine)  # fmt: skip
    sashimi["waiting_gbps"] = waiting["gbps"]
    floor = "" if sashimi["limit_found"] else ", no rate failed: a floor"
    print(f"sashimi-style pipeline, free-running camera, zero drops: {sashimi['gbps']:.3f} GB/s "
          f"({sashimi['fps']:g} frames/s{floor}; queues of {slots[0]} frames, {slots[1]} "
          "volumes)", flush=True)  # fmt: skip
    results = ramp(folder, args.rates, seconds, args.refine, _options(args), sink)
    raw["after_gbps"] = _raw_again(folder, raw, seconds, chunk_bytes)
    best = best_of(results)
    profiled = None
    if best is not None and not args.no_profile:
        print(f"profiling every process at {best.requested_fps:g} frames/s ...", flush=True)
        seconds_profiled = max(seconds, PROFILE_S + 4.0)
        profiled = run_pipeline(folder, best.requested_fps, seconds_profiled,
                                _options(args, profile_s=PROFILE_S))  # fmt: skip
        profiled.sink = sink
        for name, profile in profiled.profile.items():
            total = profiled.cpu_ms.get(name, {}).get("total_ms", 0.0)
            profile["copies"] = copies_per_frame(profile, total, copy_ms)
    limit = limited_by(results, best)
    return {"sink": sink, "raw": raw, "queue": queue, "sashimi": sashimi, "results": results,
            "best": best, "profiled": profiled, "limited_by": limit}  # fmt: skip


def limited_by(results: list[RateResult], best: RateResult | None) -> str:
    """Why the first rate above the best one failed ("camera lags": the simulated camera did
    not deliver the rate, so nothing downstream was tested at it; "drops": the pipeline)."""
    floor = best.requested_fps if best else 0.0
    above = [r for r in results if not r.passed and r.requested_fps > floor]
    return min(above, key=lambda r: r.requested_fps).verdict() if above else "no rate failed"


def measure_compression(folder: Path, start_fps: float, args: argparse.Namespace) -> dict:
    figures = compression_figures()
    # From below the uncompressed disk rate up: the compressor may be slower than the disk.
    rates = [round(start_fps * f) for f in COMPRESSED_STEPS]
    results = ramp(folder, [float(r) for r in dict.fromkeys(rates)], args.seconds, args.refine,
                   _options(args, compression="blosc-lz4"), "disk")  # fmt: skip
    measured = [r.compression_ratio for r in results if r.compression_ratio]
    figures["pipeline_ratio"] = round(max(measured), 3) if measured else None
    return {"figures": figures, "results": results, "best": best_of(results)}


def measure_preview(folder: Path, rate: float, args: argparse.Namespace) -> dict:
    seconds = max(args.seconds, 8.0)
    print(f"preview watched at {rate:g} frames/s ...", flush=True)
    watched = run_pipeline(folder, rate, seconds, _options(args, watch_preview=True))
    print(f"preview not watched at {rate:g} frames/s ...", flush=True)
    unwatched = run_pipeline(folder, rate, seconds, _options(args))
    # At the limit the rings are full and the latency is their backlog; below it, the path's own.
    lower = float(round(rate * PREVIEW_LOWER))
    print(f"preview watched at {lower:g} frames/s ...", flush=True)
    below = run_pipeline(folder, lower, seconds, _options(args, watch_preview=True))
    return {"watched": watched, "unwatched": unwatched, "below": below}


def ceilings(sinks: dict[str, dict]) -> dict[str, dict[str, float]]:
    cores = os.cpu_count() or 1
    return {k: report.cpu_ceiling(s["best"], s["raw"], cores, FRAME_BYTES)
            for k, s in sinks.items() if s["best"] is not None}  # fmt: skip


def _sink_limit(folder: Path, plain: dict[str, float], seconds: float, chunk_bytes: int
                ) -> dict[str, Any]:  # fmt: skip
    """The fastest raw write, of the ways the saver may write there: on a disk plain, with each
    frame's writeback started, or direct; on a tmpfs plain, and through a mapping on 2 MiB pages
    where the tmpfs is mounted ``huge=advise`` (``mapped_fill.py``), into files deleted as it goes
    as the plain write's are. On a tmpfs writeback advice does nothing and direct I/O, which the
    saver does not use there, is a slow copy, so those are not measured there."""
    by_way: dict[str, float | None] = {way: None for way in RAW_WAYS}
    by_way["plain"] = plain["gbps"]
    best = plain
    if maps_huge_pages(folder):
        ways = [("mapped", "copied through a mapping on 2 MiB pages")]
    elif is_tmpfs(folder):
        ways = []
    else:
        ways = [("writeback", "each frame's writeback started at once"),
                ("direct", "written with O_DIRECT from page-aligned memory")]  # fmt: skip
    for way, said in ways:
        measured = _raw_way(folder, way, seconds, chunk_bytes)
        if measured is None:
            print(f"  the same, {said}: not possible here", flush=True)
            continue
        print(f"  the same, {said}: {measured['gbps']:.3f} GB/s "
              f"({measured['bytes'] / 1e9:.1f} GB)", flush=True)  # fmt: skip
        by_way[way] = measured["gbps"]
        best = max(best, measured, key=lambda r: r["gbps"])
    return {**best, "by_way": by_way}


def _raw_way(folder: Path, way: str, seconds: float, chunk_bytes: int) -> dict[str, Any] | None:
    """One way of the raw write; the mapped one (a tmpfs) into files deleted as it goes."""
    if way == "plain":
        return raw_as_the_pipeline_writes(folder, FRAME_SHAPE, seconds, chunk_bytes)
    file_bytes = chunk_bytes if way == "mapped" else None
    return raw_disk_gbps(folder, FRAME_SHAPE, seconds, way=way, file_bytes=file_bytes)


def _raw_again(folder: Path, raw: dict[str, Any], seconds: float, chunk_bytes: int
               ) -> float | None:  # fmt: skip
    """The fastest way of the raw write once more, after the ramp: a disk's speed moves between
    minutes (2.5 to 3.2 GB/s on this VM), and a ratio against the first figure alone does not
    show it. The targets stay against the first figure."""
    ways = {way: gbps for way, gbps in raw["by_way"].items() if gbps is not None}
    way = max(ways, key=lambda w: ways[w])
    again = _raw_way(folder, way, seconds, chunk_bytes)
    if again is None:
        return None
    print(f"raw write again after the ramp ({way}): {again['gbps']:.3f} GB/s, "
          f"{raw['gbps']:.3f} before it", flush=True)  # fmt: skip
    return float(again["gbps"])


def _raw_ways(raw: dict[str, Any]) -> dict[str, float | None]:
    return {way: None if gbps is None else round(gbps, 4) for way, gbps in raw["by_way"].items()}


def summary(sinks: dict[str, dict], compressed: dict | None, preview: dict | None,
            copy_ms: float, args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    def fig(sink: str, key: str) -> float | None:
        part = sinks.get(sink)
        if part is None:
            return None
        if key == "pipeline":
            return round(part["best"].gbps, 4) if part["best"] else None
        return round(part[key]["gbps"], 4)

    base = "tmpfs" if "tmpfs" in sinks else next(iter(sinks))
    profiled = next((s["profiled"] for s in sinks.values() if s["profiled"]), None)
    reported = [s["best"] or (s["results"][0] if s["results"] else None) for s in sinks.values()]
    watched = preview["watched"] if preview else None
    comp_best = compressed["best"] if compressed else None
    return {
        "pipeline_gbps_tmpfs": fig("tmpfs", "pipeline"),
        "raw_tmpfs_gbps": fig("tmpfs", "raw"),
        "pipeline_gbps_disk": fig("disk", "pipeline"),
        "raw_disk_gbps": fig("disk", "raw"),
        "raw_by_way": {sink: _raw_ways(part["raw"]) for sink, part in sinks.items()},
        "raw_after_ramp_gbps": {s: part["raw"].get("after_gbps") for s, part in sinks.items()},
        "saver_write_gbps": {
            s: part["best"].sink_write_gbps if part["best"] else None for s, part in sinks.items()
        },
        "queue_gbps": fig(base, "queue"),
        "sashimi_gbps": fig(base, "sashimi"),
        "sashimi_waiting_gbps": round(sinks[base]["sashimi"]["waiting_gbps"], 4),
        "sashimi_limit_found": sinks[base]["sashimi"]["limit_found"],
        "baselines_sink": base,
        "compressed_pixels_gbps_disk": round(comp_best.gbps, 4) if comp_best else None,
        "compression_ratio": compressed["figures"].get("ratio") if compressed else None,
        "compression": compressed["figures"] if compressed else None,
        "compression_ceiling_gbps": report.compression_ceiling(compressed["figures"])
        if compressed
        else None,
        "cpu_ceiling": ceilings(sinks),
        "frames_dropped": sum(r.frames_dropped for r in reported if r is not None),
        "cpu_ms_per_frame": profiled.cpu_ms if profiled else {},
        "cpu_ms_per_frame_by_sink": {
            k: s["profiled"].cpu_ms for k, s in sinks.items() if s["profiled"]
        },
        "copies_per_frame": COPIES_BY_CODE["none"],
        "copies_per_frame_compressed": COPIES_BY_CODE["blosc-lz4"],
        "copies_per_frame_counted": {
            k: round(r.frames_copied / r.frames_acquired, 4)
            for k, s in sinks.items()
            if (r := s["best"]) is not None and r.frames_acquired
        },
        "copies_measured": {
            k: {n: p.get("copies") for n, p in s["profiled"].profile.items()}
            for k, s in sinks.items()
            if s["profiled"]
        },
        "memcpy_ms_per_frame": round(copy_ms, 3),
        "preview_p50_ms": watched.preview["buffer"]["p50_ms"]
        if watched and watched.preview
        else None,
        "preview_p99_ms": watched.preview["buffer"]["p99_ms"]
        if watched and watched.preview
        else None,
        "preview": watched.preview if watched else None,
        "preview_below_limit": preview["below"].preview if preview else None,
        "preview_below_limit_fps": preview["below"].requested_fps if preview else None,
        "fps_with_preview": round(watched.achieved_fps, 2) if watched else None,
        "fps_without_preview": round(preview["unwatched"].achieved_fps, 2) if preview else None,
        "limited_by": {k: s["limited_by"] for k, s in sinks.items()},
        "max_zero_drop_fps": {
            k: (s["best"].requested_fps if s["best"] else None) for k, s in sinks.items()
        },
        "quick": args.quick,
        "seconds_per_rate": args.seconds,
        "frame_shape": list(FRAME_SHAPE),
        "planes": PLANES,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": [r.as_json() for s in sinks.values() for r in s["results"]],
        "profiled_runs": [s["profiled"].as_json() for s in sinks.values() if s["profiled"]],
        "shm_left": [n for n in list_blocks() if owner_pid(n) == os.getpid()],
    }


def _benchmark(args: argparse.Namespace) -> int:
    disk_parent = Path(args.out or Path.cwd() / "runs").expanduser().resolve()
    sinks = list(SINKS) if args.sink == "both" else [args.sink]
    print(f"lightsheet throughput: {FRAME_SHAPE[1]} x {FRAME_SHAPE[0]} uint16 frames "
          f"({FRAME_BYTES / 1e6:.1f} MB), {PLANES} planes per volume, {args.seconds:g} s per run"
          f"{' (quick)' if args.quick else ''}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (noisy when other work runs)", flush=True)  # fmt: skip
    missing = perf_missing()
    if missing and not args.no_profile:
        print(f"no perf profiles: {missing}")
        args.no_profile = True
    copy_ms = memcpy_ms(FRAME_BYTES)
    huge_share = ring_huge_page_share()
    print(f"frame ring pages: {huge_share:.0%} on 2 MiB pages, the rest 4 KiB "
          "(/dev/shm's huge= option; direct disk writes need 2 MiB for 4 MB requests)")  # fmt: skip
    ring_mb = bench_rig(100.0, frame_ring_mb=args.frame_ring_mb).buffers.frame_ring_mb
    print(f"frame ring: {ring_mb:g} MB ({int(ring_mb * BYTES_PER_MB) // FRAME_BYTES} frames), "
          "the sashimi-style queues as large"
          f"{'' if args.frame_ring_mb else ' (the config default; --frame-ring-mb)'}")  # fmt: skip
    measured: dict[str, dict] = {}
    compressed = preview = None
    began = time.monotonic()
    for sink in sinks:
        folder = make_sink_folder(sink, disk_parent)
        try:
            measured[sink] = measure_sink(sink, folder, args, copy_ms)
            best = measured[sink]["best"]
            if sink == "disk" and best is not None and not args.no_compression:
                compressed = measure_compression(folder, best.requested_fps, args)
            if sink == sinks[-1] and best is not None and not args.no_preview:
                preview = measure_preview(folder, best.requested_fps, args)
        finally:
            remove_sink_folder(folder)
    _print_all(measured, compressed, preview, copy_ms)
    result = summary(measured, compressed, preview, copy_ms, args)
    result["ring_huge_page_share"] = round(huge_share, 3)
    result["frame_ring_mb"] = ring_mb
    result["minutes"] = round((time.monotonic() - began) / 60, 1)
    print(json.dumps(result))
    ok = all(s["best"] is not None for s in measured.values()) and not result["shm_left"]
    return 0 if ok else 1


def _print_all(measured: dict[str, dict], compressed: dict | None, preview: dict | None,
               copy_ms: float) -> None:  # fmt: skip
    for sink, part in measured.items():
        report.print_ramp(sink, part["results"])
    rows = []
    for sink, part in measured.items():
        best = part["best"]
        rows.append({"sink": sink, "pipeline_gbps": best.gbps if best else None,
                     "max_zero_drop_fps": best.requested_fps if best else None,
                     "raw_gbps": part["raw"]["gbps"], "queue_gbps": part["queue"]["gbps"],
                     "raw_after_gbps": part["raw"].get("after_gbps"),
                     "sashimi_gbps": part["sashimi"]["gbps"],
                     "sink_write_gbps": best.sink_write_gbps if best else None,
                     "writing_share": best.writing_share if best else None,
                     "limited_by": part["limited_by"]})  # fmt: skip
    report.print_summary(rows)
    report.print_ceilings(ceilings(measured), os.cpu_count() or 1)
    for sink, part in measured.items():
        if part["profiled"] is not None:
            report.print_cpu(sink, part["profiled"], copy_ms)
    print(f"\ncopies of each frame's pixels, camera buffer -> file, counted in the code: "
          f"{COPIES_BY_CODE['none']} uncompressed, {COPIES_BY_CODE['blosc-lz4']} with blosc, "
          "+1 per previewed plane when the preview is watched; sashimi-style: 6")  # fmt: skip
    for sink, part in measured.items():
        best = part["best"]
        if best is not None and best.frames_acquired:
            print(f"  frames the dispatcher copied at the highest zero-drop rate ({sink}): "
                  f"{best.frames_copied} of {best.frames_acquired}")  # fmt: skip
    if compressed is not None:
        raw_disk = measured["disk"]["raw"]["gbps"]
        report.print_compression(compressed["figures"], compressed["best"], raw_disk,
                                 compressed["results"])  # fmt: skip
    if preview is not None:
        watched = preview["watched"]
        report.print_preview(watched.preview, watched, preview["unwatched"])
        below = preview["below"]
        report.print_preview(below.preview, below, None)


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None
    if not rates or any(not math.isfinite(r) or r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive frames/s: {text}")
    return sorted(rates)


def _steps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"bisection steps must be a whole number >= 0: {text}")
    return value


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(description="Frame path throughput against its sink (issue 11).")
    parser.add_argument("--sink", choices=(*SINKS, "both"), default="both")
    parser.add_argument("--quick", action="store_true",
                        help=f"development run: {QUICK_SECONDS:g} s per run, coarse rates, "
                        "one bisection step")  # fmt: skip
    parser.add_argument("--rates", type=_rates, help="frame rates to step through, frames/s")
    parser.add_argument("--refine", type=_steps, help="bisection steps after the first failure")
    parser.add_argument("--seconds", type=positive_float, help="acquisition time per run (30)")
    parser.add_argument("--out", help="parent of the disk folder (default: runs/ under the cwd)")
    parser.add_argument("--frame-ring-mb", type=positive_float,
                        help="lightsheet's frame ring, and the sashimi-style queues as large "
                        "(MB; default: the config's)")  # fmt: skip
    parser.add_argument("--no-profile", action="store_true", help="skip the perf-profiled run")
    parser.add_argument("--no-compression", action="store_true", help="skip the blosc ramp")
    parser.add_argument("--no-preview", action="store_true", help="skip the preview runs")
    args = parser.parse_args(argv)
    args.rates = args.rates or list(QUICK_RATES if args.quick else DEFAULT_RATES)
    args.refine = args.refine if args.refine is not None else (1 if args.quick else 2)
    args.seconds = args.seconds or (QUICK_SECONDS if args.quick else 30.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.addFilter(lambda r: r.levelno >= logging.ERROR or r.name.startswith("benchmarks"))
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(console)
    try:
        return _benchmark(args)
    except KeyboardInterrupt:
        print("interrupted: the runs so far are discarded", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Parallel processing of a stack in memory, side by side in one run: the two-array background
correction (``image −= dark; image ×= gain``, `process_plane`) over a float32 stack of
``--gb`` gigabytes, by a serial numpy loop, a MantidImaging-style pool (second arrays pickled
with every task), our shared-array pool (processes), the same pool on threads, and dask on a
LocalCluster.

For each: the best of ``--repeats`` timings and the speed-up over the serial loop, the peak
extra memory in one further, untimed run (sum of PSS over this process and all its children,
above what it was with the stack already in memory: the stack itself is never copied by the
pools; sampling PSS costs CPU, so no timed run is sampled), and the time
from a cancel (at 30 % of the items) until the call returned with every worker idle. The first
images are checked against a plain numpy reference after every timed run.

The issue's target: speed-up >= 0.85 x cores on this correction. The last line is one JSON
object.

    .venv/bin/python benchmarks/parallel.py [--gb 2] [--image 2048] [--repeats 3] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

if __package__ in (None, ""):  # run as `python benchmarks/parallel.py`: find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.parallel_contenders import CONTENDERS, Stack, memory_limit_gbps, time_to_stop
from lightsheet.processing.corrections import correction_gain
from lightsheet.processing.pool import DEFAULT_BACKEND, usable_cores
from lightsheet.processing.shared_array import create_shared_array

MB = 1e6
CHECKED = 4  # images compared with the reference after every run


class PssPeak:
    """Peak of the summed PSS of this process and its descendants, sampled on a thread."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        me = psutil.Process()
        total = 0
        for process in (me, *me.children(recursive=True)):
            try:
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(self._interval_s)

    def __enter__(self) -> PssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def make_data(images: int, side: int, owned) -> tuple[Stack, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    stack = owned(create_shared_array((images, side, side), np.float32, "stack"))
    for index in range(images):  # image by image: no second copy of the stack
        stack.array[index] = rng.integers(500, 4000, (side, side))
    dark_image = rng.uniform(80, 120, (side, side)).astype(np.float32)
    flat = rng.uniform(800, 1200, (side, side)).astype(np.float32)
    dark = owned(create_shared_array(dark_image.shape, np.float32, "dark"))
    gain = owned(create_shared_array(dark_image.shape, np.float32, "gain"))
    present = owned(create_shared_array((images,), bool, "present"))
    dark.array[:], gain.array[:], present.array[:] = (
        dark_image,
        correction_gain(dark_image, flat),
        True,
    )
    pristine = stack.array[:CHECKED].copy()
    expected = (pristine - dark_image) * gain.array
    return Stack(stack, dark, gain, present), pristine, expected


def cpu_seconds() -> float:
    """User + system CPU time of this process and its live descendants so far."""
    me = psutil.Process()
    total = 0.0
    for process in (me, *me.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def timed_run(contender, data: Stack, pristine, expected) -> tuple[float, float]:
    """(seconds, CPU seconds) of one run, checked against the reference.

    Nothing else of the benchmark runs meanwhile: a PSS sample of processes that map the stack
    walks its page tables (about 36 ms of CPU per sample for 2 GB), so a sampler beside a timed
    run took most of a core from the contenders that use both.
    """
    data.stack.array[:CHECKED] = pristine
    cpu = cpu_seconds()
    started = time.perf_counter()
    contender.run()
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    if not np.allclose(data.stack.array[:CHECKED], expected, rtol=1e-6):
        raise AssertionError(f"{contender.name}: wrong result")
    return elapsed, cpu


def peak_extra(contender, data: Stack, pristine) -> int:
    """Peak extra PSS (bytes) of one more run, sampled on a thread; this run is not timed."""
    data.stack.array[:CHECKED] = pristine
    baseline = PssPeak.now()
    with PssPeak() as peak:
        contender.run()
    return peak.peak - baseline


def measure_all(data: Stack, pristine, expected, workers: int, repeats: int) -> list[dict]:
    """Every contender once per round, round after round, so that load from elsewhere on the
    machine falls on all of them alike; each keeps its best time. Then one sampled run each
    for the peak memory."""
    contenders = [kind(data, workers) for kind in CONTENDERS]
    try:
        rows = [
            {"name": c.name, "s": float("inf"), "cpu_s": float("inf"), "peak_extra_mb": 0.0}
            for c in contenders
        ]
        for round_ in range(repeats):
            for contender, row in zip(contenders, rows, strict=True):
                elapsed, cpu = timed_run(contender, data, pristine, expected)
                row["s"] = min(row["s"], elapsed)
                row["cpu_s"] = min(row["cpu_s"], cpu)
            print(f"  round {round_ + 1} of {repeats} done", flush=True)
        for contender, row in zip(contenders, rows, strict=True):
            row["peak_extra_mb"] = peak_extra(contender, data, pristine) / MB
            row["stop_s"] = time_to_stop(contender)
            row["worker_stop_s"] = getattr(contender, "stop_s", None)
        return rows
    finally:
        for contender in contenders:
            contender.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="stack size in GB (float32)")
    parser.add_argument("--image", type=int, default=2048, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=usable_cores())
    args = parser.parse_args(argv)
    images = max(8, int(args.gb * 1e9 // (args.image * args.image * 4)))
    owned: list = []

    def keep(array):
        owned.append(array)
        return array

    rows = []
    try:
        data, pristine, expected = make_data(images, args.image, keep)
        stack_mb = data.stack.array.nbytes / MB
        print(
            f"stack: {images} images of {args.image}², {stack_mb:.0f} MB float32; "
            f"{args.workers} workers on {usable_cores()} cores",
            flush=True,
        )
        limit = memory_limit_gbps(data, args.workers, args.repeats)
        rows = measure_all(data, pristine, expected, args.workers, args.repeats)
    finally:
        for array in owned:
            array.close()
    return report(rows, images, args, stack_mb, limit)


def report(rows: list[dict], images: int, args, stack_mb: float, limit: float) -> int:
    serial, serial_ours = rows[0]["s"], rows[1]["s"]
    gb = stack_mb / 1000
    print(
        f"\n{'':30} {'time s':>8} {'GB/s':>6} {'speed-up':>9} {'CPU s':>7} "
        f"{'peak extra MB':>14} {'stop after cancel s':>20}"
    )
    for row in rows:
        row["speedup"] = serial / row["s"]
        row["speedup_same_function"] = serial_ours / row["s"]
        row["gbps"] = gb / row["s"]
        print(
            f"{row['name']:30} {row['s']:8.3f} {row['gbps']:6.2f} {row['speedup']:8.2f}x "
            f"{row['cpu_s']:7.2f} {row['peak_extra_mb']:14.0f} {row['stop_s']:20.3f}"
        )
    print(f"{'machine limit (read+write once)':30} {gb / limit:8.3f} {limit:6.2f}")
    cores = usable_cores()
    target = 0.85 * min(cores, args.workers)
    by_name = {row["name"]: row for row in rows}
    ours = by_name["lightsheet pool (processes)"]
    threads = by_name["lightsheet pool (threads)"]
    print(
        f"\ntarget: speed-up >= {target:.2f} (0.85 x {min(cores, args.workers)} cores) over the "
        f"serial numpy loop: processes {ours['speedup']:.2f}, threads {threads['speedup']:.2f}; "
        f"over our item function run serially: processes {ours['speedup_same_function']:.2f}, "
        f"threads {threads['speedup_same_function']:.2f}; best pool at "
        f"{max(ours['gbps'], threads['gbps']) / limit:.0%} of the machine's limit; "
        f"default backend: {DEFAULT_BACKEND}; load average {os.getloadavg()[0]:.1f}"
    )
    summary = {
        "cores": cores,
        "workers": args.workers,
        "images": images,
        "image_side": args.image,
        "stack_mb": round(stack_mb),
        "target_speedup": round(target, 2),
        "speedup_processes": round(ours["speedup"], 2),
        "speedup_threads": round(threads["speedup"], 2),
        "limit_gbps": round(limit, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "default_backend": DEFAULT_BACKEND,
        "contenders": {
            row["name"]: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            for row in rows
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The tables `throughput.py` prints: everything side by side, ours against the limits."""

from __future__ import annotations

from typing import Any

from benchmarks.pipeline_run import RateResult

PROCESSES = ("camera", "dispatcher", "saver", "scanner", "main", "bench")
PIPELINE = ("camera", "dispatcher", "saver", "scanner", "main")  # the bench is the checking


def cpu_ceiling(best: RateResult, raw: dict[str, float], cores: int,
                frame_bytes: int) -> dict[str, float]:  # fmt: skip
    """What the machine's cores could carry at the CPU the best run spent per frame (all its
    processes, the benchmark's checking and deleting included), against the raw write's rate."""
    pipeline = sum(best.cpu_ms.get(n, {}).get("total_ms", 0.0) for n in PIPELINE)
    bench = best.cpu_ms.get("bench", {}).get("total_ms", 0.0)
    fps = cores * 1e3 / (pipeline + bench) if pipeline + bench else 0.0
    return {"pipeline_ms_per_frame": round(pipeline, 2), "bench_ms_per_frame": round(bench, 2),
            "raw_ms_per_frame": round(raw.get("cpu_ms_per_frame", 0.0), 2),
            "ceiling_fps": round(fps, 1), "ceiling_gbps": round(fps * frame_bytes / 1e9, 3),
            "ceiling_x_raw": round(fps * frame_bytes / 1e9 / raw["gbps"], 2)}  # fmt: skip


def print_ceilings(ceilings: dict[str, dict[str, float]], cores: int) -> None:
    """Why a sink's ratio is what it is: the CPU the frame path needs, against the cores."""
    print(f"\nwhat {cores} cores carry at the CPU the best run spent per frame (OS accounting)")
    print(f"{'sink':>6} {'pipeline ms':>11} {'bench ms':>8} {'ceiling fps':>11} {'GB/s':>6} "
          f"{'x raw':>6} {'raw write ms':>12}")  # fmt: skip
    for sink, c in ceilings.items():
        print(f"{sink:>6} {c['pipeline_ms_per_frame']:>11.2f} {c['bench_ms_per_frame']:>8.2f} "
              f"{c['ceiling_fps']:>11.1f} {c['ceiling_gbps']:>6.3f} {c['ceiling_x_raw']:>6.2f} "
              f"{c['raw_ms_per_frame']:>12.2f}")  # fmt: skip
    print("  ms: CPU per frame, user + kernel, summed over processes; the raw write spends its "
          "own in one thread. A ceiling under 0.9 x raw means the cores, not the pipeline's "
          "waiting, set the sink's ratio on this machine.")  # fmt: skip


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f} x"


def print_ramp(sink: str, results: list[RateResult]) -> None:
    """One line per rate tried: what reached the sink, drops, each process's share of a core."""
    print(f"\n{sink}: rates tried (share of one core used by each process, first frame to close)")
    names = [n for n in PROCESSES if any(n in r.busy for r in results)]
    busy_head = " ".join(f"{n[:6]:>6}" for n in names)
    print(f"{'fps':>6} {'achieved':>8} {'GB/s':>6} {'drop':>5} {'miss':>5} {'volumes':>9} "
          f"{'compr':>9} {'sink':>5} {'writing':>7} {busy_head}  result")  # fmt: skip
    for r in results:
        busy = " ".join(f"{_fmt(r.busy.get(n), '.2f'):>6}" for n in names)
        tries = f" (tried {len(r.startup_failures) + 1} times)" if r.startup_failures else ""
        writing = "-" if r.writing_share is None else f"{100 * r.writing_share:.0f} %"
        print(f"{r.requested_fps:>6g} {r.achieved_fps:>8.1f} {r.gbps:>6.3f} {r.frames_dropped:>5d} "
              f"{r.frames_missing:>5d} {f'{r.volumes_saved}/{r.volumes_requested}':>9} "
              f"{r.compression:>9} {_fmt(r.sink_write_gbps, '.2f'):>5} {writing:>7} {busy}  "
              f"{r.verdict()}{tries}")  # fmt: skip
        for problem in r.problems[:3]:
            print(f"{'':>8}{problem}")
        for failure in r.startup_failures[:2]:
            print(f"{'':>8}earlier try: {failure}")
    print("  sink: GB/s of the saver's writes while writing (the sink's speed during that run, "
          "as the saver timed it); writing: the share of the run it spent writing")


def print_summary(rows: list[dict[str, Any]]) -> None:
    """The issue's table: per sink, ours at zero drops against the raw write and the baselines."""
    print("\nthroughput, 2048 x 2048 uint16, GB/s (GB = 1e9 bytes)")
    print(f"{'sink':>6} {'lightsheet 0 drops':>19} {'raw write':>9} {'pickling q':>10} "
          f"{'sashimi':>8} {'ours/raw':>9} {'ours/queue':>10} {'ours/sashimi':>12}  "
          "next rate up failed by")  # fmt: skip
    for row in rows:
        ours = row["pipeline_gbps"]
        fps = row.get("max_zero_drop_fps")
        label = f"{_fmt(ours)} ({_fmt(fps, 'g')} fps)" if ours is not None else "-"
        print(f"{row['sink']:>6} {label:>19} {_fmt(row['raw_gbps']):>9} "
              f"{_fmt(row.get('queue_gbps')):>10} {_fmt(row.get('sashimi_gbps')):>8} "
              f"{_ratio(ours, row['raw_gbps']):>9} {_ratio(ours, row.get('queue_gbps')):>10} "
              f"{_ratio(ours, row.get('sashimi_gbps')):>12}  "
              f"{row.get('limited_by', '')}")  # fmt: skip
    print("raw write: the fastest of plain writes, writes with each frame's writeback started and"
          " O_DIRECT writes (tmpfs: plain writes, and copies through a mapping on 2 MiB pages where"
          " it is mounted huge=advise: the ways the saver writes there)")  # fmt: skip
    for row in rows:
        after = row.get("raw_after_gbps")
        if after is not None:
            print(f"  {row['sink']}: the same raw write again after the ramp {_fmt(after)} GB/s, "
                  f"ours/raw against it {_ratio(row['pipeline_gbps'], after)}")  # fmt: skip
        during = row.get("sink_write_gbps")
        if during is not None:
            share = row.get("writing_share")
            writing = "" if share is None else f", writing {100 * share:.0f} % of the run"
            print(f"  {row['sink']}: in ours' best run the saver's writes went at {_fmt(during)} "
                  f"GB/s{writing}; ours against that {_ratio(row['pipeline_gbps'], during)}")
    print("targets: ours/raw >= 0.9 on each sink; ours/queue >= 4 and ours/sashimi >= 1.5 on tmpfs")


def print_cpu(sink: str, result: RateResult, copy_ms: float) -> None:
    """CPU per frame of every process, user and kernel, and where perf found the time going."""
    print(f"\n{sink}: CPU per frame at {result.requested_fps:g} frames/s ({result.verdict()}, "
          f"{result.frames_dropped} dropped) "
          f"(OS accounting; one 8.4 MB memcpy here takes {copy_ms:.2f} ms)")  # fmt: skip
    print(f"{'process':>10} {'user ms':>8} {'kernel ms':>9} {'total ms':>8} {'kernel %':>8} "
          f"{'core share':>10}  copies/frame measured (user + kernel)")  # fmt: skip
    for name in PROCESSES:
        cpu = result.cpu_ms.get(name)
        if cpu is None:
            continue
        copies = result.profile.get(name, {}).get("copies", {})
        measured = f"{copies['user']:.2f} + {copies['kernel']:.2f}" if copies else "-"
        print(f"{name:>10} {cpu['user_ms']:>8.2f} {cpu['system_ms']:>9.2f} {cpu['total_ms']:>8.2f} "
              f"{100 * cpu['kernel_share']:>7.0f}% {_fmt(result.busy.get(name), '.2f'):>10}  "
              f"{measured}")  # fmt: skip
    print("  measured copies include the write into the file itself: the kernel's copy into the"
          " page cache, or on a tmpfs at huge=advise the saver's copy into the file's mapping")
    for name in PROCESSES:
        profile = result.profile.get(name)
        if not profile:
            continue
        if "error" in profile:
            print(f"  perf {name}: {profile['error']}")
            continue
        top = "; ".join(
            f"{t['symbol'][:40]} [{'k' if t['where'] == 'kernel' else 'u'}] {t['pct']:.0f}%"
            for t in profile["top"][:5]
        )
        print(f"  perf {name} ({profile['samples']} samples, {profile['kernel_pct']:.0f}% in "
              f"kernel, copies {profile['user_copy_pct'] + profile['kernel_copy_pct']:.0f}%, "
              f"page work {profile['page_work_pct']:.0f}%): {top}")  # fmt: skip


def compression_ceiling(figures: dict[str, Any]) -> float | None:
    """GB/s of pixels compressed in memory with the most threads tried: the CPU's limit."""
    return max((v for k, v in figures.items() if k.startswith("gbps_")), default=None)


def print_compression(figures: dict[str, Any], best: RateResult | None, raw_disk: float | None,
                      ramp: list[RateResult]) -> None:  # fmt: skip
    print("\ncompression: blosc-lz4 + bit shuffle (the saver's filter) on the simulated sample")
    print(f"  sample: background {figures.get('background_counts')} counts (camera offset), "
          f"{100 * figures.get('bright_share', 0):.2f}% of pixels above twice the background; "
          f"ratio {figures.get('ratio')} x")  # fmt: skip
    speeds = ", ".join(f"{k.split('_')[1]} thread(s) {v} GB/s" for k, v in figures.items()
                       if k.startswith("gbps_"))  # fmt: skip
    print(f"  compression alone, in memory: {speeds} of pixels")
    for name, value in figures.get("blosc2", {}).items():
        print(f"  HDF5 filter pipeline, the former way ({name}): {value}")
    if ramp:
        print_ramp("disk, compressed", ramp)
    pixels = best.gbps if best else None
    print(
        f"  pipeline, blosc-lz4 on disk, zero drops: {_fmt(pixels)} GB/s of pixels "
        f"= {_ratio(pixels, raw_disk)} the raw disk ({_fmt(raw_disk)} GB/s); target >= 1.5 x"
    )
    ceiling = compression_ceiling(figures)
    print(f"  the machine's limit: compression alone on every core, in memory, {_fmt(ceiling)} "
          f"GB/s = {_ratio(ceiling, raw_disk)} the raw disk, before the camera and the "
          "dispatcher take their share of the same cores")  # fmt: skip


def print_preview(preview: dict[str, Any] | None, with_rate: RateResult | None,
                  without: RateResult | None) -> None:  # fmt: skip
    if preview is None or with_rate is None:
        return
    buffer, viewer = preview["buffer"], preview["viewer"]
    print(f"\npreview watched at {with_rate.requested_fps:g} frames/s (a GUI-like reader polls "
          "Session.latest_preview() every 33 ms)")  # fmt: skip
    print(f"  camera -> preview buffer: p50 {_fmt(buffer['p50_ms'], '.0f')} ms, "
          f"p99 {_fmt(buffer['p99_ms'], '.0f')} ms, max {_fmt(buffer['max_ms'], '.0f')} ms "
          f"over {buffer['matched']} volumes (target p99 <= 50 ms)")  # fmt: skip
    print(f"  camera -> viewer copy:    p50 {_fmt(viewer['p50_ms'], '.0f')} ms, "
          f"p99 {_fmt(viewer['p99_ms'], '.0f')} ms; {viewer['images']} images shown, "
          f"{preview['viewer_copies']} whole-volume copies made by the reader")  # fmt: skip
    if not preview["layout_ok"]:
        print("  warning: the preview header no longer reads as (seq, index): latencies unsure")
    print(
        f"  rate with the preview watched: {with_rate.achieved_fps:.1f} frames/s, "
        f"{with_rate.frames_dropped} dropped ({with_rate.verdict()})",
        end="",
    )
    if without is None:
        print()
        return
    print(f"; without: {without.achieved_fps:.1f} frames/s, {without.frames_dropped} dropped "
          f"({without.verdict()})")  # fmt: skip

"""Live processors, side by side: how results reach the display, and what a processor costs the
acquisition.

Part 1, result return. A camera process writes 2048 x 2048 uint16 frames into a frame ring at
``--fps``; a processor process reads them latest-only, converts each to float32 (the work) and
stamps every pixel of the result with the frame's id; the main process plays the display,
reading results as fast as they come. Four ways back, in one run:

- ``pickling queue``: results pickled through a bounded multiprocessing.Queue (blocking put);
- ``CAS-style shm``: one shared buffer rewritten in place, a counter saying a new one is there,
  no synchronisation (the design CAS GUI documents as "race conditions are possible");
- ``ours: queue``: lightsheet's ResultQueue (bounded, oldest dropped and counted);
- ``ours: ring``: lightsheet's ResultRing (slots with sequence numbers, read latest-only).

The two "ours" columns run lightsheet's own ProcessorLoop (the code the processor process runs);
the two baselines a plain loop on the same latest-only frame reader. Figures: results the
display got per second, latency (frame committed to result in the display's hands) p50/p99, torn
images (a result whose pixels do not all carry one stamp), and frames skipped as the processor
counted them (CAS-style: one per gap; ours: by frame id) against the truth (every frame id the
camera wrote between the first and last processed that was not processed). The machine's limit
is one 16 MB copy per result.

Part 2, the acquisition: the highest rate with zero dropped frames of the real pipeline to disk
(benchmarks/throughput.py's ramp), without and then with a multi-core processor (``mean`` over 4
frames, results in shared memory) running.

The last line printed is one JSON object with every figure.

    .venv/bin/python benchmarks/processors.py [--seconds 5] [--fps 60] [--rates 20,40,60,80,100,120]
                                              [--acquire-seconds 4] [--skip-acquisition]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/processors.py`: find the repo's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline_run import RunOptions
from benchmarks.throughput import ramp
from lightsheet.processes.commands import ProcessorState
from lightsheet.processes.frames import FRAME_META, KIND_FRAME
from lightsheet.processes.processor_loop import ProcessorLoop
from lightsheet.processes.status import SCHEMAS, ProcessorStatus
from lightsheet.processing import ImageProcessor
from lightsheet.processing.processor_channel import SettingsMirror
from lightsheet.processing.results import Result, ResultQueue, ResultRing, ResultRingSpec
from lightsheet.runtime.ring import Ring, RingSpec
from lightsheet.runtime.shm import list_blocks, owner_pid
from lightsheet.runtime.status import StatusBoard

FRAME_SHAPE = (2048, 2048)
RESULT_BYTES = FRAME_SHAPE[0] * FRAME_SHAPE[1] * 4
FRAME_SLOTS = 8
QUEUE_SIZE = 4
TRANSPORTS = ("pickling queue", "CAS-style shm", "ours: queue", "ours: ring")
IDLE_S = 0.0005
START_TIMEOUT_S = 60.0


class Stamp(ImageProcessor):
    """The benchmark's processor: float32 of the frame, every pixel then set to its frame id."""

    name = "stamp"

    def process(self, frame: np.ndarray) -> np.ndarray:
        out = frame.astype(np.float32)
        out.fill(float(frame[0, 0]))  # the camera writes the frame id into the first pixel
        return out


# -- the camera -----------------------------------------------------------------------------------


def camera(spec: RingSpec, fps: float, go: Any, stop: Any, written: Any) -> None:
    """Frames at ``fps`` into the frame ring, each released at once (the dispatcher's part)."""
    ring = spec.attach()
    base = np.random.default_rng(0).integers(100, 4000, FRAME_SHAPE, dtype=np.uint16).reshape(-1)
    go.wait()
    start, frame_id = time.perf_counter(), 0
    try:
        while not stop.is_set():
            slot = ring.try_acquire_write()
            if slot is not None:
                np.copyto(slot.data, base)
                slot.data[0] = frame_id
                meta = slot.meta
                meta["frame_id"], meta["run"], meta["kind"] = frame_id, 1, KIND_FRAME
                meta["height"], meta["width"] = FRAME_SHAPE
                meta["host_ts"] = time.time()
                ring.commit(slot)
                read = ring.acquire_read(1.0)
                if read is not None:
                    ring.release(read)
                frame_id += 1
                written.value = frame_id
            delay = start + frame_id / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    finally:
        ring.close()


# -- the processors -------------------------------------------------------------------------------


def baseline_processor(spec: RingSpec, kind: str, out: Any, stop: Any, report: Any) -> None:
    """A plain loop: latest-only frames, the CAS GUI's gap count, a naive way back."""
    ring = spec.attach()
    frame = np.empty(spec.slot_shape, spec.dtype)
    buffer = None
    if kind == "CAS-style shm":
        shm_name, counter, stamp_ts = out
        from multiprocessing.shared_memory import SharedMemory

        block = SharedMemory(name=shm_name)
        buffer = np.ndarray(FRAME_SHAPE, np.float32, buffer=block.buf)
    processed, gaps, last, commits = [], 0, -1, 0
    stamp = Stamp()
    while not stop.is_set():
        committed = ring.counters().committed
        meta = ring.read_latest(frame) if committed != commits else None
        if meta is None or int(meta["frame_id"]) <= last:
            time.sleep(IDLE_S)
            continue
        commits = committed
        frame_id, host_ts = int(meta["frame_id"]), float(meta["host_ts"])
        gaps += int(last >= 0 and frame_id > last + 1)  # CAS counts a gap, not its frames
        last = frame_id
        result = stamp.process(frame.reshape(FRAME_SHAPE))
        if buffer is not None:
            np.copyto(buffer, result)  # rewritten in place while the display may be copying
            stamp_ts.value = host_ts
            counter.value = frame_id + 1
        else:
            try:
                out.put((frame_id, host_ts, result), timeout=1.0)
            except queue.Full:
                continue
        processed.append(frame_id)
    report.put({"processed": processed, "counted": gaps})
    ring.close()


def our_processor(spec: RingSpec, sink: Any, stop: Any, report: Any) -> None:
    """lightsheet's ProcessorLoop with the Stamp processor, into a ResultQueue or ResultRing."""
    ring = spec.attach()
    target = sink.attach() if isinstance(sink, ResultRingSpec) else sink
    if isinstance(target, ResultQueue):
        target.producer_exits()
    board = StatusBoard(SCHEMAS)
    status = board.section(ProcessorStatus)
    loop = ProcessorLoop(ring, status, target, logging.getLogger("bench"), lambda f: None)
    loop.command(SettingsMirror().set(Stamp(), "benchmarks.processors:Stamp"))
    loop.set_state(ProcessorState(True, 1))
    processed = []
    while not stop.is_set():
        before = status.frames
        if loop.step() and status.frames > before:
            processed.append(status.last_frame_id)
        else:
            time.sleep(IDLE_S)
    report.put({"processed": processed, "counted": loop.frames.skipped})
    ring.close()
    if isinstance(target, ResultRing):
        target.close()


# -- the display ----------------------------------------------------------------------------------


class Display:
    """The main process's side: takes results, times them, checks every stamp."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.torn = 0  # pixels of two results mixed
        self.mislabelled = 0  # a whole result, but not the one its number says
        self.images = 0
        self.counting = True  # off once the clock stopped: results still on their way are
        self.copy = np.empty(FRAME_SHAPE, np.float32)

    def got(self, data: np.ndarray, stamp: float, host_ts: float) -> None:
        if not self.counting:
            return  # taken only so that the processor can finish its last put
        self.latencies.append(time.time() - host_ts)
        self.images += 1
        low, high = float(data.min()), float(data.max())
        if low != high:
            self.torn += 1
        elif low != stamp:
            self.mislabelled += 1

    def poll(self, kind: str, source: Any, state: dict[str, int]) -> bool:
        """One look for a new result; True when one was taken."""
        if kind == "CAS-style shm":
            buffer, counter, stamp_ts = source
            number = counter.value
            if number == state.get("seen", 0):
                return False
            state["seen"] = number
            np.copyto(self.copy, buffer)  # what an unsynchronised reader does
            self.got(self.copy, float(number - 1), stamp_ts.value)
            return True
        if kind == "ours: ring":
            result = source.read_latest(state.get("seq", -1))
            if result is None:
                return False
            state["seq"] = result.seq
            self.got(result.data, float(result.frame_id), result.frame_host_ts)
            return True
        taken = source.take_all() if kind == "ours: queue" else _queue_items(source)
        for item in taken:
            if isinstance(item, Result):
                self.got(item.data, float(item.frame_id), item.frame_host_ts)
            else:
                frame_id, host_ts, data = item
                self.got(data, float(frame_id), host_ts)
        return bool(taken)


def _queue_items(source: Any) -> list[Any]:
    items = []
    while True:
        try:
            items.append(source.get_nowait())
        except queue.Empty:
            return items


# -- one transport --------------------------------------------------------------------------------


def run_transport(kind: str, fps: float, seconds: float, display_hz: float) -> dict[str, Any]:
    """One camera, one processor returning results by ``kind``, the display for ``seconds``,
    looking for a new result ``display_hz`` times a second (0: as fast as it can)."""
    ctx = mp.get_context("spawn")
    ring = Ring.create("benchframes", (FRAME_SHAPE[0] * FRAME_SHAPE[1],), "<u2", FRAME_SLOTS,
                       FRAME_META, blocking=False)  # fmt: skip
    go, stop, written, report = ctx.Event(), ctx.Event(), ctx.RawValue("q", 0), ctx.Queue()
    source, child_target, cleanup = _transport(kind, ctx)
    camera_process = ctx.Process(target=camera, args=(ring.spec, fps, go, stop, written))
    if kind.startswith("ours"):
        processor = ctx.Process(target=our_processor, args=(ring.spec, child_target, stop, report))
    else:
        processor = ctx.Process(target=baseline_processor,
                                args=(ring.spec, kind, child_target, stop, report))  # fmt: skip
    display, state = Display(), {}
    try:
        camera_process.start()
        processor.start()
        time.sleep(2.0)  # both import numpy and attach before the clock starts
        go.set()
        start = time.monotonic()
        ticks = 0
        while time.monotonic() < start + seconds:
            taken = display.poll(kind, source, state)
            ticks += 1
            pause = start + ticks / display_hz - time.monotonic() if display_hz else 0.0
            if pause > 0 or not taken:
                time.sleep(max(pause, IDLE_S))
        stop.set()
        display.counting = False
        summary = _wind_down(display, kind, source, state, report, processor)
    finally:
        stop.set()
        for child in (camera_process, processor):
            child.join(10)
            if child.is_alive():
                child.kill()
        cleanup()
        ring.close()
    return _figures(kind, display, summary, int(written.value), seconds)


def _wind_down(display: Display, kind: str, source: Any, state: dict[str, int], report: Any,
               processor: Any) -> dict[str, Any]:  # fmt: skip
    """The processor's report, taking results meanwhile so that a blocked put can finish."""
    deadline = time.monotonic() + START_TIMEOUT_S
    summary = None
    while summary is None or processor.is_alive():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{kind}: the processor did not finish")
        display.poll(kind, source, state)
        if summary is None:
            with contextlib.suppress(queue.Empty):
                summary = report.get(timeout=0.05)
        else:
            processor.join(0.05)
    return summary


def _transport(kind: str, ctx: Any) -> tuple[Any, Any, Any]:
    """(what the display reads, what the processor gets, clean-up) of one way back."""
    if kind == "pickling queue":
        channel = ctx.Queue(QUEUE_SIZE)
        return channel, channel, channel.close
    if kind == "CAS-style shm":
        from multiprocessing.shared_memory import SharedMemory

        block = SharedMemory(create=True, size=RESULT_BYTES)
        buffer = np.ndarray(FRAME_SHAPE, np.float32, buffer=block.buf)
        counter, stamp_ts = ctx.RawValue("q", 0), ctx.RawValue("d", 0.0)

        def release() -> None:
            nonlocal buffer
            del buffer
            block.close()
            block.unlink()

        return (buffer, counter, stamp_ts), (block.name, counter, stamp_ts), release
    if kind == "ours: queue":
        results = ResultQueue(QUEUE_SIZE)
        return results, results, results.close
    ring = ResultRing.create(3, RESULT_BYTES)
    return ring, ring.spec, ring.close


def _figures(kind: str, display: Display, summary: dict[str, Any], written: int,
             seconds: float) -> dict[str, Any]:  # fmt: skip
    processed = sorted(set(summary["processed"]))
    span = processed[-1] - processed[0] + 1 if processed else 0
    latencies = np.array(display.latencies) * 1000 if display.latencies else np.zeros(1)
    return {
        "transport": kind,
        "frames_written": written,
        "processed": len(processed),
        "processed_per_s": len(processed) / seconds,
        "images_per_s": display.images / seconds,
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p99_ms": float(np.percentile(latencies, 99)),
        "torn": display.torn,
        "mislabelled": display.mislabelled,
        "images_checked": display.images,
        "skipped_counted": int(summary["counted"]),
        "skipped_truly": span - len(processed),
    }


# -- the machine's limit and the acquisition -------------------------------------------------------


def copy_limit(seconds: float = 1.0) -> float:
    """Results per second if returning one cost exactly one 16 MB copy (the machine's limit)."""
    source = np.ones(FRAME_SHAPE, np.float32)
    target = np.empty_like(source)
    copies, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        np.copyto(target, source)
        copies += 1
    return copies / (time.perf_counter() - start)


PROCESSING = {"name": "mean", "options": {"frames": 4}, "multi_core": True,
              "shared_memory": True}  # fmt: skip


def zero_drop_rates(out: Path, rates: list[float], seconds: float) -> dict[str, Any]:
    """The pipeline's highest zero-drop rate to disk without, then with, the processor."""
    figures: dict[str, Any] = {}
    for label, processing in (("without", None), ("with", PROCESSING)):
        print(f"-- acquisition {label} a multi-core processor", flush=True)
        folder = out / label
        folder.mkdir()
        options = RunOptions(processing=processing, keep=True)  # metadata.json: its counts
        results = ramp(folder, rates, seconds, refine=1, options=options, sink="disk")
        passing = [r.requested_fps for r in results if r.passed]
        rows = [_rate_json(r) for r in results]
        if processing is not None:
            _add_processed(folder, rows)
        figures[label] = {"max_zero_drop_fps": max(passing) if passing else None, "rates": rows}
    return figures


def _add_processed(folder: Path, rows: list[dict[str, Any]]) -> None:
    """What the processor did in each run (its counts, from each run's metadata.json)."""
    for run in folder.glob("pipeline-*fps-*"):
        metadata = json.loads((run / "metadata.json").read_text())
        counts = (metadata.get("processing") or {}).get("since_start") or {}
        fps = float(run.name.split("-")[1].removesuffix("fps"))
        for row in rows:
            if row["fps"] == fps:
                row["processor_frames"] = counts.get("frames_processed")
                row["processor_skipped"] = counts.get("frames_skipped")
                print(f"  at {fps:g} frames/s the processor took {row['processor_frames']} "
                      f"frames and skipped {row['processor_skipped']}")  # fmt: skip


def _rate_json(result: Any) -> dict[str, Any]:
    return {
        "fps": result.requested_fps,
        "achieved_fps": round(result.achieved_fps, 1),
        "dropped": result.frames_dropped,
        "missing": result.frames_missing,
        "passed": result.passed,
    }


def print_transports(rows: list[dict[str, Any]], limit: float) -> None:
    print()
    print(f"result return, {FRAME_SHAPE[1]} x {FRAME_SHAPE[0]} float32 results "
          f"({RESULT_BYTES / 1e6:.1f} MB each)")  # fmt: skip
    header = f"{'':34}" + "".join(f"{row['transport']:>16}" for row in rows)
    print(header)
    lines = [
        ("images/s to the display", "images_per_s", ".1f"),
        ("latency p50 (ms)", "latency_p50_ms", ".1f"),
        ("latency p99 (ms)", "latency_p99_ms", ".1f"),
        ("torn images (pixels of two mixed)", "torn", "d"),
        ("mislabelled images", "mislabelled", "d"),
        ("images checked", "images_checked", "d"),
        ("frames processed", "processed", "d"),
        ("frames processed per second", "processed_per_s", ".1f"),
        ("skipped, as the processor counted", "skipped_counted", "d"),
        ("skipped, truly (by frame id)", "skipped_truly", "d"),
        ("frames the camera wrote", "frames_written", "d"),
    ]
    for label, key, spec in lines:
        print(f"{label:34}" + "".join(f"{format(row[key], spec):>16}" for row in rows))
    print(f"{'machine limit: one 16 MB copy':34}{limit:>16.1f} results/s")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    print(f"lightsheet live processors: {os.cpu_count()} CPUs, camera at {args.fps:g} frames/s, "
          f"display looking {args.display_hz:g} times/s, {args.seconds:g} s per way back; "
          "figures are noisy when other work runs", flush=True)  # fmt: skip
    rows = []
    for kind in TRANSPORTS:
        print(f"-- {kind} ...", flush=True)
        rows.append(run_transport(kind, args.fps, args.seconds, args.display_hz))
    limit = copy_limit()
    print_transports(rows, limit)
    acquisition: dict[str, Any] = {}
    if not args.skip_acquisition:
        out = Path(tempfile.mkdtemp(prefix="bench-processors-", dir=args.out))
        try:
            acquisition = zero_drop_rates(out, args.rates, args.acquire_seconds)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        for label in ("without", "with"):
            fps = acquisition[label]["max_zero_drop_fps"]
            print(f"acquisition, highest zero-drop rate {label} a multi-core processor: "
                  f"{'none' if fps is None else f'{fps:g} frames/s'}")  # fmt: skip
    leftover = [name for name in list_blocks() if owner_pid(name) == os.getpid()]
    print(json.dumps({
        "frame_shape": list(FRAME_SHAPE), "camera_fps": args.fps, "seconds": args.seconds,
        "display_hz": args.display_hz,
        "cpus": os.cpu_count(), "transports": rows, "copy_limit_per_s": round(limit, 1),
        "acquisition": acquisition, "shm_left": leftover,
    }))  # fmt: skip
    ours = next(row for row in rows if row["transport"] == "ours: ring")
    ours_rows = [r for r in rows if "ours" in r["transport"]]
    exact = all(r["skipped_counted"] == r["skipped_truly"] for r in ours_rows)
    return 0 if ours["torn"] == 0 and exact and not leftover else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per way back (default 5)")
    parser.add_argument("--fps", type=float, default=60.0, help="camera rate (default 60)")
    parser.add_argument(
        "--display-hz",
        type=float,
        default=30.0,
        help="how often the display looks for a result, as the GUI's timer "
        "(default 30; 0: as fast as it can)",
    )
    parser.add_argument(
        "--rates",
        default="20,40,60,80,100,120",
        help="acquisition rates to step through (default 20,40,60,80,100,120)",
    )
    parser.add_argument(
        "--acquire-seconds", type=float, default=4.0, help="acquisition time per rate (default 4)"
    )
    parser.add_argument(
        "--skip-acquisition", action="store_true", help="only the result return (part 1)"
    )
    parser.add_argument("--out", default=None, help="where runs are written (default: /tmp)")
    args = parser.parse_args(argv)
    args.rates = sorted(float(r) for r in str(args.rates).split(",") if r.strip())
    return args


if __name__ == "__main__":
    sys.exit(main())

"""The sashimi-style baseline measured as lightsheet is: the highest rate a free-running camera
holds for the run without losing a frame.

Why: with a camera that waits for a free slot (``sashimi_pipeline_gbps`` at ``rate_fps`` 0) the
baseline saves at its average speed, its stalls absorbed by the camera waiting; lightsheet's
figure is the highest rate at which its free-running camera lost nothing, so it must ride out
every stall in its buffers. A real camera does not wait: sashimi's camera process puts each
frame into an array queue that raises ``Full`` when no slot is free, and a comment in its code
notes that the process then crashes. So the like-for-like figure is the baseline's own
zero-drop rate, its queues holding as much as lightsheet's rings (``frame_ring_mb`` frames,
``volume_ring_mb`` volumes); the waiting camera's figure is printed beside it.

The ramp starts below the waiting camera's rate and rises by a factor ``STEP`` until a run drops
a frame (or its camera lags), or falls by it until one passes when the start failed, then
bisects ``refine`` times, as lightsheet's ramp does. On the disk the free-running baseline held
every rate tried, up to 1.5 times the waiting camera's, so the ramp may rise to
``STEP ** (MAX_STEPS - 1)`` times its start; a ramp in which no rate failed says so
(``limit_found``): its figure is a floor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.pipeline_run import RATE_TOLERANCE
from benchmarks.rate_search import bisect_rates
from benchmarks.sashimi import sashimi_pipeline_gbps

START = 0.9  # of the waiting camera's frame rate
STEP = 1.15
MAX_STEPS = 10


def ring_slots(frame_bytes: int, planes: int, frame_ring_bytes: int, volume_ring_bytes: int
               ) -> tuple[int, int]:  # fmt: skip
    """Frame and volume slots holding as much as lightsheet's two rings (at least 2 each)."""
    return (max(2, frame_ring_bytes // frame_bytes),
            max(2, volume_ring_bytes // (frame_bytes * planes)))  # fmt: skip


def sashimi_zero_drop(
    folder: Path, frame_shape: tuple[int, int], planes: int, seconds: float, sweep: bool,
    chunk_bytes: int, slots: tuple[int, int], waiting_gbps: float, refine: int = 2,
) -> dict[str, Any]:  # fmt: skip
    """The highest zero-drop rate of the free-running baseline: its GB/s, frame rate and runs."""
    frame_bytes = frame_shape[0] * frame_shape[1] * 2
    waiting_fps = waiting_gbps * 1e9 / frame_bytes
    runs: list[dict[str, Any]] = []

    def attempt(rate: float) -> bool:
        result = sashimi_pipeline_gbps(folder, frame_shape, planes, seconds, sweep, chunk_bytes,
                                       rate_fps=rate, slots=slots)  # fmt: skip
        result["passed"] = (result["dropped"] == 0
                            and result["achieved_fps"] >= RATE_TOLERANCE * rate)  # fmt: skip
        runs.append(result)
        print(f"  sashimi-style, free-running at {rate:g} frames/s: {result['gbps']:.3f} GB/s, "
              f"{result['dropped']} dropped, camera {result['achieved_fps']:.1f} frames/s",
              flush=True)  # fmt: skip
        return bool(result["passed"])

    passed, failed = zero_drop_search(attempt, waiting_fps * START, refine)
    best = max((r for r in runs if r["passed"]), key=lambda r: r["requested_fps"], default=None)
    return {"gbps": best["gbps"] if best else 0.0, "fps": passed, "slots": list(slots),
            "limit_found": failed is not None, "runs": runs}  # fmt: skip


def zero_drop_search(attempt: Callable[[float], bool], start: float, refine: int
                     ) -> tuple[float, float | None]:  # fmt: skip
    """The highest rate ``attempt`` passed (0 when none did) and the lowest it failed above it
    (None when none failed): up from ``start`` by ``STEP``, or down when ``start`` failed, then
    ``refine`` bisections between the two."""
    passed, failed = 0.0, None
    for step in range(MAX_STEPS):  # up from the start until a rate fails
        rate = float(max(1, math.floor(start * STEP**step)))
        if not attempt(rate):
            failed = rate
            break
        passed = rate
    for step in range(1, MAX_STEPS if not passed else 0):  # the start failed: down until one passes
        rate = float(max(1, math.floor(start / STEP**step)))
        if attempt(rate):
            passed = rate
            break
        failed = rate
    return bisect_rates(attempt, passed, failed, refine)

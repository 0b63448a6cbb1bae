"""Figures from a soak's samples: what grew over the steady state, and CPU at its two ends.

A soak (``soak.py``) samples every process every few seconds; the first ``WARMUP_S`` after the
first frame (rings filling, first chunks, lazy imports) are left out of what is reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import cpu

WARMUP_S = 5.0  # after the first frame: rings filling, first chunks, lazy imports
WINDOW_SHARE = 0.2  # CPU per frame compared over the first and the last fifth


def _slope_mb_per_min(times: list[float], values: list[float]) -> float | None:
    if len(times) < 3 or times[-1] - times[0] <= 0:
        return None
    slope = np.polyfit(np.asarray(times) / 60.0, np.asarray(values), 1)[0]
    return float(slope)


def steady_samples(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not samples:
        return []
    start = samples[0]["t"] + WARMUP_S
    steady = [s for s in samples if s["t"] >= start]
    return steady if len(steady) >= 2 else samples


def process_figures(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    steady = steady_samples(samples)
    # A helper (the saver's index child) starts after the first sample and ends at the run's
    # close: each process is reported over the samples that found it.
    names = list(dict.fromkeys(n for s in steady for n in s["processes"]))
    figures = {}
    for name in names:
        found = [s for s in steady if name in s["processes"]]
        if len(found) < 2:
            continue
        series = [s["processes"][name] for s in found]
        uss = [p["uss_mb"] for p in series]
        slope = _slope_mb_per_min([s["t"] for s in found], uss)
        figures[name] = {
            "uss_start_mb": round(uss[0], 1),
            "uss_end_mb": round(uss[-1], 1),
            "uss_growth_mb": round(uss[-1] - uss[0], 1),
            "uss_slope_mb_per_min": None if slope is None else round(slope, 3),
            "fds_start": series[0]["fds"],
            "fds_end": series[-1]["fds"],
            "threads_start": series[0]["threads"],
            "threads_end": series[-1]["threads"],
        }
    return figures


def cpu_windows(samples: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """CPU ms per frame of each process over the first and the last fifth of the steady state."""
    steady = steady_samples(samples)
    if len(steady) < 2:
        return {}, {}
    span = steady[-1]["t"] - steady[0]["t"]
    head = [s for s in steady if s["t"] <= steady[0]["t"] + WINDOW_SHARE * span] or steady[:2]
    tail = [s for s in steady if s["t"] >= steady[-1]["t"] - WINDOW_SHARE * span] or steady[-2:]
    first = cpu.per_frame(head[0]["cpu"], head[-1]["cpu"]) if len(head) > 1 else {}
    last = cpu.per_frame(tail[0]["cpu"], tail[-1]["cpu"]) if len(tail) > 1 else {}
    return first, last

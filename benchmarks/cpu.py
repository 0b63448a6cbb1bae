"""CPU time of every process of a run, user and kernel, from the OS's own accounting.

``snapshot`` reads each process's cumulative user and system time (all its threads) and, for
the main process, subtracts the threads the benchmark itself runs there (memory sampler, chunk
reaper, preview watcher), which are reported apart as "bench". Two snapshots and the frames
between them give milliseconds per frame for each process: where the pipeline spends its CPU
and whether in user code or in the kernel.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

BENCH = "bench"  # the benchmark's own threads in the main process
MAIN = "main"
INDEX = "index"  # the saver's dataset.h5 writer
INDEX_MODULE = "lightsheet.storage.index_child"

_bench_threads: set[int] = set()
_lock = threading.Lock()


def register_bench_thread() -> None:
    """Call at the start of a benchmark thread: its CPU is not counted as the main process's."""
    with _lock:
        _bench_threads.add(threading.get_native_id())


@dataclass
class CpuSnapshot:
    """Cumulative (user, system) seconds per process name, and the frames counted by then."""

    times: dict[str, tuple[float, float]] = field(default_factory=dict)
    frames: int = 0


def _bench_times(process: psutil.Process) -> tuple[float, float]:
    with _lock:
        ours = set(_bench_threads)
    user = system = 0.0
    for thread in process.threads():
        if thread.id in ours:
            user += thread.user_time
            system += thread.system_time
    return user, system


def with_helpers(pids: Mapping[str, int]) -> dict[str, int]:
    """``pids`` and the helper processes they started themselves: the saver's dataset.h5
    writer (``lightsheet.storage.index_child``) as "index", so its CPU and memory are counted."""
    found = dict(pids)
    for pid in pids.values():
        try:
            children = psutil.Process(pid).children()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for child in children:
            try:
                if any(INDEX_MODULE in part for part in child.cmdline()):
                    found[INDEX] = child.pid
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    return found


def snapshot(pids: Mapping[str, int], frames: int = 0) -> CpuSnapshot:
    """CPU times of the named child processes (and their helpers, ``with_helpers``) and of
    this (main) process, split as above."""
    shot = CpuSnapshot(frames=frames)
    for name, pid in with_helpers(pids).items():
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        shot.times[name] = (times.user, times.system)
    me = psutil.Process(os.getpid())
    times = me.cpu_times()
    bench_user, bench_system = _bench_times(me)
    shot.times[MAIN] = (times.user - bench_user, times.system - bench_system)
    shot.times[BENCH] = (bench_user, bench_system)
    return shot


def per_frame(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, dict[str, float]]:
    """{process: {user_ms, system_ms, total_ms, kernel_share}} per frame between the two."""
    frames = after.frames - before.frames
    result: dict[str, dict[str, float]] = {}
    if frames <= 0:
        return result
    for name, (user_after, system_after) in after.times.items():
        if name not in before.times:
            continue
        user_before, system_before = before.times[name]
        user = max(user_after - user_before, 0.0) * 1000 / frames
        system = max(system_after - system_before, 0.0) * 1000 / frames
        total = user + system
        result[name] = {
            "user_ms": round(user, 3),
            "system_ms": round(system, 3),
            "total_ms": round(total, 3),
            "kernel_share": round(system / total, 3) if total > 0 else 0.0,
        }
    return result


def busy_share(before: CpuSnapshot, after: CpuSnapshot, seconds: float) -> dict[str, float]:
    """Share of one core each process used between the two snapshots (1.0 = a core saturated)."""
    if seconds <= 0:
        return {}
    return {
        name: round((sum(after.times[name]) - sum(before.times[name])) / seconds, 3)
        for name in after.times
        if name in before.times
    }

"""Where each process spends its CPU, down to the kernel function: `perf record` on a live run.

`perf` samples every thread of one process on the cpu-clock software event (this VM has no
hardware counters, so memory traffic cannot be read from the memory controller); `perf report`
attributes the samples to functions, user code and kernel alike. From that we get, per process:
the functions it spends its time in, the share in the kernel, and the time spent copying pixels
(memcpy and numpy's copy loops in user space, the kernel's copies into the page cache), which,
divided by the time one 8 MB memcpy takes on this machine, counts the copies it makes per frame:
a measurement to hold against the copies counted by reading the code.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_HZ = 499
TOP = 10
# Functions whose time is a copy of pixel bytes (user space: libc and numpy; kernel: into or out
# of the page cache / a user buffer).
USER_COPY = ("memmove", "memcpy", "_contig_to_contig", "_aligned_contig")
KERNEL_COPY = ("copy_user", "copy_folio_from_iter", "copy_page_from_iter", "copy_to_user",
               "copy_from_user", "rep_movs", "memcpy_orig", "__memcpy", "copy_mc")  # fmt: skip
PAGE_WORK = ("clear_page", "get_page_from_freelist", "rmqueue", "shmem_", "folio", "lru",
             "page_fault", "handle_mm_fault", "free_unref", "zap_", "truncate")  # fmt: skip
_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$")
_SAMPLES = re.compile(r"^# Samples: (\d+)")


def perf_missing() -> str | None:
    """Why perf cannot be used here, or None when it can."""
    if shutil.which("perf") is None:
        return "perf is not installed (apt-get install linux-perf)"
    return None


def memcpy_ms(nbytes: int, buffers: int = 16, repeats: int = 3) -> float:
    """Median time of one copy of `nbytes` from memory to memory, in ms.

    The copies go round `buffers` pairs of buffers (256 MB for frames of 8 MB), more than any
    cache holds, so each copy reads and writes main memory as the pipeline's copies do: a copy
    between two buffers used again and again would run from the cache and look several times
    faster than the copies it is a yardstick for.
    """
    pairs = [(np.ones(nbytes // 2, dtype=np.uint16), np.ones(nbytes // 2, dtype=np.uint16))
             for _ in range(buffers)]  # fmt: skip
    times = []
    for _ in range(repeats):
        for source, target in pairs:
            began = time.perf_counter()
            np.copyto(target, source)
            times.append(time.perf_counter() - began)
    return float(np.median(times)) * 1000


class PerfProfiler:
    """`perf record` of several processes at once for a fixed time; then one report each."""

    def __init__(self, out_dir: Path) -> None:
        self._out = Path(out_dir)
        self._jobs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, pids: Mapping[str, int], seconds: float) -> None:
        self._out.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            data = self._out / f"perf-{name}.data"
            command = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(SAMPLE_HZ),
                       "-p", str(pid), "-o", str(data), "--", "sleep", f"{seconds:g}"]  # fmt: skip
            job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self._jobs[name] = (job, data)

    def finish(self, timeout_s: float = 60.0) -> dict[str, dict[str, Any]]:
        """{process: report}; a process whose recording failed gets {"error": ...}."""
        reports: dict[str, dict[str, Any]] = {}
        for name, (job, data) in self._jobs.items():
            try:
                _, err = job.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                job.kill()
                job.communicate()
                reports[name] = {"error": "perf record did not end"}
                continue
            if job.returncode != 0 or not data.exists():
                reports[name] = {"error": err.decode(errors="replace").strip()[-200:]}
                continue
            reports[name] = _report(data)
            data.unlink(missing_ok=True)
        self._jobs.clear()
        return reports


def _report(data: Path) -> dict[str, Any]:
    command = ["perf", "report", "-i", str(data), "--stdio", "--no-children",
               "--sort", "dso,sym", "--percent-limit", "0.3"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    samples = 0
    rows = []
    for line in out.splitlines():
        if match := _SAMPLES.match(line):
            samples = int(match.group(1))
        elif match := _LINE.match(line):
            pct, dso, kind, symbol = match.groups()
            rows.append((float(pct), dso, kind, symbol))
    kernel = sum(r[0] for r in rows if r[2] == "k")
    return {
        "samples": samples,
        "kernel_pct": round(kernel, 1),
        "user_copy_pct": round(_share(rows, USER_COPY, "."), 1),
        "kernel_copy_pct": round(_share(rows, KERNEL_COPY, "k"), 1),
        "page_work_pct": round(_share(rows, PAGE_WORK, "k"), 1),
        "top": [
            {"pct": pct, "where": "kernel" if kind == "k" else Path(dso).name, "symbol": symbol}
            for pct, dso, kind, symbol in rows[:TOP]
        ],
    }


def _share(rows: list[tuple[float, str, str, str]], names: tuple[str, ...], kind: str) -> float:
    """Percent of samples in functions named like `names`; a copy is never page work too."""
    exclude = () if names is KERNEL_COPY or names is USER_COPY else KERNEL_COPY
    return sum(
        pct
        for pct, _, k, sym in rows
        if k == kind and any(n in sym for n in names) and not any(n in sym for n in exclude)
    )


def copies_per_frame(report: Mapping[str, Any], cpu_ms_per_frame: float, copy_ms: float) -> dict:
    """Copy time per frame in one process, as a number of full-frame memcpys (user, kernel)."""
    if "error" in report or copy_ms <= 0:
        return {}
    user = report["user_copy_pct"] / 100 * cpu_ms_per_frame / copy_ms
    kernel = report["kernel_copy_pct"] / 100 * cpu_ms_per_frame / copy_ms
    return {"user": round(user, 2), "kernel": round(kernel, 2)}

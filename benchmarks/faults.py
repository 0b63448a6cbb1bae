"""How fast a fault is seen and the rig stopped: SIGKILL of each process, and of the main one.

Runs the real ``lightsheet acquire`` on a small simulated rig, kills one process mid-run and
measures from the kill: when the main process logged the fault, when the command exited, when
the last process of the run was gone, and whether a shared-memory block was left. Then kills the
main process itself and measures when its children are gone and that the next start removes the
blocks it left. Prints a table and one JSON line.

    .venv/bin/python benchmarks/faults.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightsheet.config import dump_config  # noqa: E402
from lightsheet.runtime.shm import list_blocks, owner_pid, remove_stale_blocks  # noqa: E402
from tests.pipeline.rigs import log_pid, small_rig  # noqa: E402

PROCESSES = ("scanner", "camera", "dispatcher", "saver")
DEADLINE_S = 60.0


def start(folder: Path) -> subprocess.Popen[str]:
    config = small_rig(4, exposure_ms=5.0)
    config.saving.chunk_ram_mb = 0.02
    path = folder.parent / f"{folder.name}.yaml"
    path.write_text(dump_config(config))
    return subprocess.Popen(
        [sys.executable, "-m", "lightsheet", "acquire", "--config", str(path), "--volumes",
         "100000", "--out", str(folder), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def poll(condition, what: str, timeout: float = DEADLINE_S):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.002)
    raise TimeoutError(what)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fault_logged_at(folder: Path) -> float:
    for line in (folder / "logs" / "main.log").read_text().splitlines():
        if " fault: " in line:
            stamp = line.split(" ", 1)[0].rstrip("Z")
            return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.timezone.utc).timestamp()
    raise ValueError("no fault line in main.log")


def kill_child(base: Path, victim: str, attempt: int) -> dict[str, float]:
    folder = base / f"{victim}-{attempt}"
    process = start(folder)
    pids = {name: poll(lambda n=name: log_pid(folder, n), f"{name} up") for name in PROCESSES}
    poll(lambda: list((folder / "chunks").glob("*.h5")), "a saved volume")
    killed = time.time()
    os.kill(pids[victim], signal.SIGKILL)
    process.wait(DEADLINE_S)
    exited = time.time()
    poll(lambda: not any(alive(p) for p in pids.values()), "every process gone")
    gone = time.time()
    left = [b for b in list_blocks() if owner_pid(b) == process.pid]
    return {
        "detected_s": fault_logged_at(folder) - killed,
        "exited_s": exited - killed,
        "all_gone_s": gone - killed,
        "exit_code": float(process.returncode),
        "blocks_left": float(len(left)),
    }


def kill_main(base: Path, attempt: int) -> dict[str, float]:
    folder = base / f"main-{attempt}"
    process = start(folder)
    pids = [poll(lambda n=name: log_pid(folder, n), f"{name} up") for name in PROCESSES]
    poll(lambda: list((folder / "chunks").glob("*.h5")), "a saved volume")
    killed = time.time()
    process.kill()
    process.wait(DEADLINE_S)
    poll(lambda: not any(alive(p) for p in pids), "every child gone")
    gone = time.time()
    left = [b for b in list_blocks() if owner_pid(b) == process.pid]
    removed = [b for b in remove_stale_blocks() if owner_pid(b) == process.pid]
    return {"children_gone_s": gone - killed, "blocks_left": float(len(left)),
            "removed_at_next_start": float(len(removed))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lightsheet-faults-") as tmp:
        base = Path(tmp)
        for victim in PROCESSES:
            rows[victim] = [kill_child(base, victim, i) for i in range(args.repeats)]
        rows["main"] = [kill_main(base, i) for i in range(args.repeats)]
    print(f"{'killed':<11}{'fault logged':>14}{'command exit':>14}{'all gone':>11}  exit  blocks")
    summary: dict[str, dict[str, float]] = {}
    for victim in PROCESSES:
        runs = rows[victim]
        worst = {k: max(r[k] for r in runs) for k in runs[0]}
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        summary[victim] = {"detected_s_max": worst["detected_s"],
                           "all_gone_s_max": worst["all_gone_s"]}  # fmt: skip
        print(
            f"{victim:<11}{median['detected_s'] * 1000:>11.0f} ms{median['exited_s']:>12.2f} s"
            f"{median['all_gone_s']:>9.2f} s  {worst['exit_code']:>4.0f}  "
            f"{worst['blocks_left']:>6.0f}   (median; worst fault "
            f"{worst['detected_s'] * 1000:.0f} ms, gone {worst['all_gone_s']:.2f} s)"
        )
    mains = rows["main"]
    gone = max(r["children_gone_s"] for r in mains)
    print(f"{'main':<11}{'':>14}{'':>14}{gone:>9.2f} s        "
          f"{max(r['blocks_left'] for r in mains):>6.0f}   (blocks removed at the next start: "
          f"{min(r['removed_at_next_start'] for r in mains):.0f}+)")  # fmt: skip
    summary["main"] = {"children_gone_s_max": gone}
    print(json.dumps({"repeats": args.repeats, "faults": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

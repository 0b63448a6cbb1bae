"""A main process for test_orphan: starts a supervised rig, reports it, then waits to be killed.

Run as ``python -m tests.runtime.orphan_script LOG_DIR`` from the repository root. Prints one
JSON line once every worker runs: the workers' pids and the name of a block this process owns.
"""

from __future__ import annotations

import json
import sys
import threading
from multiprocessing import resource_tracker
from pathlib import Path

from lightsheet.runtime.logs import setup_process_logging
from lightsheet.runtime.shm import create_block
from lightsheet.runtime.supervisor import Supervisor
from tests.runtime.workers import PURPOSE, BlockWorker, HangingWorker


def main() -> int:
    log_dir = Path(sys.argv[1])
    setup_process_logging("main", log_dir, "INFO")
    # Owned by this process, like a Session's rings. Left to remove_stale_blocks rather than to
    # this interpreter's resource tracker, so the test sees what the next start-up cleans.
    block = create_block(PURPOSE, "main", 4096)
    resource_tracker.unregister(block._name, "shared_memory")  # type: ignore[attr-defined]
    workers = [
        BlockWorker("scanner", log_dir),
        BlockWorker("camera", log_dir),
        HangingWorker("saver", log_dir, heartbeat_timeout_s=3600.0),  # teardown still runs
    ]
    supervisor = Supervisor(workers, stop_order=["scanner", "camera", "saver"])
    supervisor.start()
    if not supervisor.wait_running(timeout=60):
        supervisor.stop()
        return 1
    print(json.dumps({"workers": [w.pid for w in workers], "block": block.name}), flush=True)
    threading.Event().wait()  # until the test kills this process
    return 0


if __name__ == "__main__":
    sys.exit(main())

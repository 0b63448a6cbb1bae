"""A worker's end is seen by every thread that asks, whichever of them reaps the child.

multiprocessing's process handle is not thread-safe: when one thread's ``waitpid`` reaps the
child, another thread's gets ECHILD and its ``join`` says "not ended", with no exit code. The
Supervisor asks from its watcher thread while another thread stops the worker, so such a race made
it report "did not stop within 5 s; still alive after SIGKILL" for a scanner that had exited.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.runtime.procs import assert_no_leftovers
from tests.runtime.workers import BlockWorker

WORKERS = 6
ASKERS = 4


def test_join_and_exitcode_agree_while_other_threads_poll(tmp_path: Path) -> None:
    workers = [BlockWorker(f"w{i}", tmp_path) for i in range(WORKERS)]
    for worker in workers:
        worker.start()
    done = threading.Event()

    def ask() -> None:  # as the Supervisor's watcher and a GUI timer do
        while not done.is_set():
            for worker in workers:
                worker.is_alive()
                _ = worker.exitcode

    askers = [threading.Thread(target=ask, daemon=True) for _ in range(ASKERS)]
    for thread in askers:
        thread.start()
    ended = []
    try:
        for worker in workers:
            worker.request_stop()
            ended.append((worker.name, worker.join(30), worker.exitcode))
    finally:
        done.set()
        for thread in askers:
            thread.join()
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    assert ended == [(w.name, True, 0) for w in workers]
    assert_no_leftovers([w.pid for w in workers])

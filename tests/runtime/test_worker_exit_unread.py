"""A command the child never read must not keep the main process from exiting.

A queue's feeder thread writes what was put into a pipe, and at exit multiprocessing joins it;
a command larger than the pipe holds (a scan's waveforms) sent to a worker that stops without
reading it left the feeder blocked and the main process hung after a Ctrl-C during start-up,
its run already saved and marked interrupted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

UNREAD_AT_EXIT = """
import sys

from lightsheet.runtime.commands import Envelope
from tests.runtime.workers import CommandWorker

worker = CommandWorker("unread", sys.argv[1])  # never started: nothing reads its commands
worker.send_command(Envelope(1, "command", b"x" * 4_000_000))  # far more than a pipe holds
sys.stderr.write("sent\\n")
"""


def test_a_command_never_read_does_not_hang_the_exit(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", UNREAD_AT_EXIT, str(tmp_path)],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip
    assert result.stderr == "sent\n"
    assert result.returncode == 0

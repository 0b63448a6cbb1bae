"""The ``lightsheet`` command's first lines: Ctrl-C while Python still imports is a quiet exit.

Importing the command (numpy, h5py, pydantic, ...) takes about a second; a Ctrl-C in that second
would otherwise print a KeyboardInterrupt traceback. Until the command runs, it exits with 130
and one line instead; from then on the commands handle it themselves.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from lightsheet.cli.exit_codes import ExitCode


def _quiet_exit(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("lightsheet: interrupted\n")
    os._exit(ExitCode.INTERRUPTED)


def main() -> int:
    previous = signal.signal(signal.SIGINT, _quiet_exit)
    from lightsheet.cli.main import main as run

    signal.signal(signal.SIGINT, previous)
    return run()

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


def _forget_handled_interrupt() -> None:
    """CPython marks a KeyboardInterrupt that escapes code run from a string (``exec("...")``,
    which ``dataclasses`` and ``namedtuple`` use while modules import) as unhandled, even when an
    outer ``except`` handles it, and a ``python -m`` process so marked kills itself with SIGINT
    at exit, whatever code it returned. Running a string to its end clears the mark (CPython
    3.11's ``run_eval_code_obj`` resets it first), so the command's exit code stands."""
    exec("None", {})


def main() -> int:
    previous = signal.signal(signal.SIGINT, _quiet_exit)
    from lightsheet.cli.main import main as run

    signal.signal(signal.SIGINT, previous)
    code = run()
    _forget_handled_interrupt()  # the command returned: any interrupt was handled
    return code

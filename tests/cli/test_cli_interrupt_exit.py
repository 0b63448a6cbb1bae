"""A Ctrl-C the command handled ends the process with the command's exit code, 130.

CPython notes a KeyboardInterrupt that escapes code run from a *string* (``exec("...")``, which
``dataclasses`` and ``namedtuple`` use to build classes while modules import) as unhandled, even
when an outer ``except`` handles it, and then kills the whole process with SIGINT at exit: the
CLI's clean stop printed its line and still exited -2 (``test_ctrl_c_while_the_processes_start``
failed so about one time in twelve).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HANDLED_INSIDE_EXEC = """
import sys

import lightsheet.cli.main
from lightsheet.cli import entry

def command(argv=None):
    try:
        exec("raise KeyboardInterrupt")  # as a Ctrl-C landing in a dataclass being built
    except KeyboardInterrupt:
        sys.stderr.write("handled\\n")
        return 130
    return 0

lightsheet.cli.main.main = command
raise SystemExit(entry.main())
"""


def test_an_interrupt_handled_inside_exec_code_exits_130_not_by_sigint(tmp_path: Path) -> None:
    # Run as ``python -m`` like the real command: only then does the interpreter's exit check
    # the note (a script or ``-c`` exits straight from SystemExit).
    (tmp_path / "handled_inside_exec.py").write_text(HANDLED_INSIDE_EXEC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-m", "handled_inside_exec"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.stderr == "handled\n"
    assert result.returncode == 130

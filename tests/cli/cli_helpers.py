"""Run the real ``lightsheet`` command as a subprocess, as an operator or a script would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lightsheet.config import dump_config


def lightsheet(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lightsheet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lightsheet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_config(config, path: Path) -> Path:
    path.write_text(dump_config(config))
    return path


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    """Bad input: exit 2 and one clear line on stderr, never a traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]

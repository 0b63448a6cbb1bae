"""What a process imports before its first frame is paid at every start of the rig: the camera
and the dispatcher never compress and the command line draws no figure, so neither Blosc2 (with
the HTTP client it imports) nor matplotlib may come with them. Each was a quarter to a third of
a second of every process's start on a 2-core VM."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("blosc2", "matplotlib")


@pytest.mark.parametrize(
    "module",
    [
        "lightsheet.processes.camera",
        "lightsheet.processes.dispatcher",
        "lightsheet.processes.saver",
        "lightsheet.cli.main",
    ],
)
def test_starting_a_process_imports_no_codec_or_plotting_library(module: str) -> None:
    probe = f"import sys, {module}; print(*[m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


def test_a_compressor_still_finds_blosc2_when_built() -> None:
    probe = (
        "import sys; from lightsheet.storage.compression import PlaneCompressor; "
        "PlaneCompressor('blosc-zstd', 3).close(); print('blosc2' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"

"""Tmpfs folders for tests: a small tmpfs of the test's own (a disk that fills, a mount option),
and a folder of its own on the machine's /dev/shm."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lightsheet.storage.filesystem import is_tmpfs


@contextmanager
def small_tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """``mount`` (made here) as a tmpfs with ``options`` (``size=40m``, ...), unmounted after;
    the test is skipped where mounting is not permitted."""
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@contextmanager
def shm_folder(prefix: str) -> Iterator[Path]:
    """A new folder on /dev/shm, removed after; the test is skipped where there is no tmpfs."""
    if not Path("/dev/shm").is_dir() or not is_tmpfs("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)

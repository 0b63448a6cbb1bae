"""Aravis's simulated cameras for tests: the GigE Vision simulator on 127.0.0.1, and the test
image both it and the in-process Fake camera draw.

The simulator listens on 127.0.0.1:3956, a fixed port, so every test process on the machine that
needs it takes one lock file first: concurrent runs wait for each other instead of colliding.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lightsheet.hardware.camera.gvcp_discovery import GVCP_PORT, probe
from tests.waiting import wait_until

SIMULATOR = "arv-fake-gv-camera-0.8"
LOOPBACK = "127.0.0.1"
LOCK_FILE = Path(tempfile.gettempdir()) / "lightsheet-arv-fake-gv-camera.lock"
LOCK_WAIT_S = 600.0
START_TIMEOUT_S = 15.0


def fake_pattern(
    shape: tuple[int, int],
    stream_id: int,
    pixel_format: str = "Mono16",
    exposure_us: float = 10_000.0,
    gain: int = 0,
) -> np.ndarray:
    """The image Aravis's Fake camera sends for block id ``stream_id`` (0.8.26, the diagonal
    ramp of arvfakecamera.c): Mono8 ``(x + y + id) % 255``, Mono16 ``(256 (x + y + id)) % 65535``,
    times ``1 + gain + log10(exposure_us / 10000)`` (1 at 10 ms), clamped to the format's range
    and truncated. x and y count from the frame's corner, whatever the ROI's offset."""
    height, width = shape
    ramp = np.add.outer(np.arange(height), np.arange(width)) + int(stream_id)
    scale = 1.0 + gain + math.log10(exposure_us / 10_000.0)
    if pixel_format == "Mono8":
        values, top = (ramp % 255).astype(np.float64), 255
    elif pixel_format == "Mono16":
        values, top = ((256 * ramp) % 65535).astype(np.float64), 65535
    else:
        raise ValueError(f"the Fake camera draws no {pixel_format}")
    return np.clip(values * scale, 0, top).astype(np.uint16)


def stream_id_of(frame: np.ndarray) -> int:
    """The block id (mod 65535) a Mono16 Fake frame was drawn for, from its corner pixel:
    256 is invertible modulo 65535, so the corner value pins the id down."""
    return int(frame[0, 0]) * pow(256, -1, 65535) % 65535


@contextlib.contextmanager
def loopback_simulator_lock() -> Iterator[None]:
    """Exclusive use of 127.0.0.1:3956 among test processes on this machine."""
    with open(LOCK_FILE, "a+") as handle:

        def take() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        wait_until(take, LOCK_WAIT_S, "the GigE Vision simulator lock", poll_s=0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gvcp_port_is_free() -> bool:
    """Nothing listens on 127.0.0.1:3956 (binding it ourselves succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((LOOPBACK, GVCP_PORT))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def gige_simulator(
    serial: str = "LSGV01", lost_per_thousand: int = 0
) -> Iterator[subprocess.Popen]:
    """``arv-fake-gv-camera-0.8`` listening on 127.0.0.1 only, answering as ``serial``, dropping
    ``lost_per_thousand`` of its stream packets."""
    if shutil.which(SIMULATOR) is None:
        pytest.fail(f"{SIMULATOR} is missing: run `make test` (installs aravis-tools-cli)")
    with loopback_simulator_lock():
        if not gvcp_port_is_free():
            pytest.fail(f"{LOOPBACK}:{GVCP_PORT} is taken by a program outside the tests")
        process = subprocess.Popen(
            [SIMULATOR, "-i", LOOPBACK, "-s", serial, "-r", str(int(lost_per_thousand))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            answered = wait_until(
                lambda: process.poll() is not None or probe(LOOPBACK, 0.2),
                START_TIMEOUT_S,
                "the GigE Vision simulator to answer",
            )
            assert process.poll() is None, f"{SIMULATOR} exited with {process.returncode}"
            assert answered.serial == serial, answered
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_for_free_port(timeout_s: float = 10.0) -> None:
    """After a simulator stopped, its socket may take a moment to close."""
    wait_until(gvcp_port_is_free, timeout_s, f"{LOOPBACK}:{GVCP_PORT} to be free")

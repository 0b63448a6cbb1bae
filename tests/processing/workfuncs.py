"""Item functions the pool's worker processes import by name (a test module cannot be)."""

from __future__ import annotations

import os
import time

import numpy as np


def slow_double(item: np.ndarray, *, delay_s: float) -> None:
    """Work that takes a while, so that a cancel lands in the middle of a call."""
    time.sleep(delay_s)
    item *= 2


def record_mapping(row: np.ndarray, *, dark: np.ndarray) -> None:
    """Which process ran the item, and where the dark image is mapped in that process."""
    row[0] = os.getpid()
    row[1] = dark.__array_interface__["data"][0]
    row[2] = dark.sum()


def fail_at(item: np.ndarray, index: np.ndarray, *, bad: int) -> None:
    if int(index) == bad:
        raise ValueError(f"bad value in item {bad}")
    item += 1


def die_at(item: np.ndarray, index: np.ndarray, *, bad: int) -> None:
    if int(index) == bad:
        os._exit(3)
    item += 1


def mapped_blocks(row: np.ndarray) -> None:
    """How many lightsheet blocks this worker maps (from /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        row[0] = sum("/dev/shm/lightsheet-" in line for line in maps)


def fail_on_gap(plane: np.ndarray, present: np.ndarray, *binned, **params) -> None:
    """A stand-in for process_plane that fails on the run's missing plane (item 7)."""
    if not bool(present):
        raise ValueError("plane 7 has no frame")
    plane += 1

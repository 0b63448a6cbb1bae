"""What arrived at the simulated NI-DAQmx server: one record per task, every call, every error.

Tests and the rehearsal report read these records to compare what the backend sent with what it
should have sent, sample for sample.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ChannelRecord:
    """A virtual channel as the driver received it."""

    kind: str  # "ao_voltage", "ai_voltage", "do_line", "co_pulse_freq"
    physical: str
    name: str
    min_v: float | None = None
    max_v: float | None = None
    settings: dict[str, float | str] = field(default_factory=dict)  # counter pulse settings


@dataclass
class TaskRecord:
    """One task: its channels, timing, trigger, attributes, every write, and its life."""

    name: str
    channels: list[ChannelRecord] = field(default_factory=list)
    timing: dict[str, float | int | str] | None = None
    start_trigger: dict[str, str] | None = None
    write_attributes: dict[str, str | int] = field(default_factory=dict)
    writes: list[np.ndarray] = field(default_factory=list)  # (channels, samples) per write
    buffer: np.ndarray | None = None  # the period a running hardware-timed task regenerates
    buffer_version: int = 0
    state: str = "created"  # created, running, stopped, cleared
    started_at: float | None = None
    starts: int = 0
    stops: int = 0
    samples_read: int = 0

    @property
    def physical_channels(self) -> list[str]:
        return [ch.physical for ch in self.channels]

    @property
    def channel_kinds(self) -> set[str]:
        return {ch.kind for ch in self.channels}

    @property
    def sample_clocked(self) -> bool:
        return self.timing is not None and self.timing.get("type") == "sample_clock"

    def channel(self, name: str) -> ChannelRecord:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(f"task {self.name} has no channel {name}")


@dataclass(frozen=True)
class CallRecord:
    """One RPC as it arrived; ``error`` is the status code the server answered, if any."""

    rpc: str
    task: str | None
    error: int | None = None
    message: str = ""


class Recorder:
    """Every task and call the server saw, and the values its outputs hold."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.history: list[TaskRecord] = []  # every task ever created, in order
        self.live: dict[str, TaskRecord] = {}  # task name -> record, until cleared
        self.calls: list[CallRecord] = []
        self.held: dict[str, float] = {}  # physical output -> value while not generating

    def tasks(self, name_contains: str = "") -> list[TaskRecord]:
        """Tasks (in creation order) whose name contains the text."""
        with self.lock:
            return [t for t in self.history if name_contains in t.name]

    def task(self, name_contains: str) -> TaskRecord:
        """The most recent task whose name contains the text."""
        found = self.tasks(name_contains)
        if not found:
            raise KeyError(f"no task whose name contains {name_contains!r}")
        return found[-1]

    def rpcs(self, name: str | None = None) -> list[CallRecord]:
        with self.lock:
            return [c for c in self.calls if name is None or c.rpc == name]

    @property
    def errors(self) -> list[CallRecord]:
        with self.lock:
            return [c for c in self.calls if c.error is not None]

    def output_values(self, at: float | None = None) -> dict[str, float]:
        """Value of every output that was ever driven, now (or at monotonic ``at``)."""
        import time

        t = time.monotonic() if at is None else at
        with self.lock:
            values = dict(self.held)
            for task in self.live.values():
                if task.state != "running" or task.buffer is None or not task.sample_clocked:
                    continue
                if task.started_at is None:
                    continue
                k = int((t - task.started_at) * float(task.timing["rate"]))  # type: ignore[index]
                if k < 0:
                    continue
                column = task.buffer[:, k % task.buffer.shape[1]]
                for ch, value in zip(task.channels, column, strict=True):
                    values[ch.physical] = float(value)
            return values

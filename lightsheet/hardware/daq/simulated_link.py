"""The shared-memory link through which the simulated DAQ board publishes what it plays.

Nothing is played sample by sample: the board publishes the period, the sample rate and the
monotonic time ``t0`` of sample 0 (``time.monotonic`` is system-wide on Linux), so any process
computes which sample is on the outputs at any time (see ``simulated.py`` and
``simulated_camera_side.py``).

Who owns the block: the main process creates it (``SimulatedBoardLink.create()``) before it spawns
the children and passes ``.name`` to both the scanner (``SimulatedDaqBoard(link_name)``) and the
camera (``SimulatedTriggerSource(link_name, ...)``); the main process closes it (unlinks) after the
children are gone, and can read ``outputs()`` at any time, e.g. to check the rig is safe. A board
created without a name creates and owns its own block (tests, standalone use).
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from lightsheet.hardware.daq.protocol import OUTPUT_NAMES, DaqError
from lightsheet.runtime.shm import attach_block, create_block, release_block

PURPOSE = "daqsim"
DEFAULT_MAX_SAMPLES = 1 << 20
_SEQLOCK_TRIES = 10_000
# Times computed from sample indices come back a hair off after the round trip through seconds.
TIME_TOLERANCE = 1e-6  # samples

_HEADER = np.dtype(
    [
        ("seq", "<i8"),  # odd while the board rewrites the block
        ("running", "<i8"),
        ("generation", "<i8"),  # bumped on every write and start
        ("n_samples", "<i8"),
        ("capacity", "<i8"),
        ("board_pid", "<i8"),
        ("t0", "<f8"),  # time.monotonic() of sample 0 of the running generation
        ("sample_rate_hz", "<f8"),
        ("piezo_um_per_v", "<f8"),
        ("outputs", "<f8", (len(OUTPUT_NAMES),)),  # values held while stopped or static
    ]
)
_HEADER_BYTES = 256
_CHANNEL_INDEX = {name: i for i, name in enumerate(OUTPUT_NAMES)}
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class LinkState:
    """A consistent copy of the published header."""

    running: bool
    generation: int
    n_samples: int
    t0: float
    sample_rate_hz: float
    piezo_um_per_v: float
    held: dict[str, float]

    def sample_index(self, t: float) -> int:
        """Index (not wrapped) of the sample on the outputs at monotonic time ``t``."""
        return math.floor((t - self.t0) * self.sample_rate_hz + TIME_TOLERANCE)


class SimulatedBoardLink:
    """The shared-memory block through which the simulated board publishes its outputs."""

    def __init__(self, shm: object, owner: bool) -> None:
        self._shm = shm
        self._owner = owner
        buf = shm.buf  # type: ignore[attr-defined]
        self._header = np.ndarray((), dtype=_HEADER, buffer=buf)
        capacity = int(self._header["capacity"])
        self._data = np.ndarray(
            (len(OUTPUT_NAMES), capacity), dtype=np.float64, buffer=buf, offset=_HEADER_BYTES
        )

    @classmethod
    def create(cls, max_samples: int = DEFAULT_MAX_SAMPLES) -> SimulatedBoardLink:
        """Create a block for periods of up to ``max_samples`` samples; the caller owns it."""
        if max_samples < 1:
            raise ValueError(f"max_samples must be positive (got {max_samples})")
        size = _HEADER_BYTES + len(OUTPUT_NAMES) * max_samples * 8
        shm = create_block(PURPOSE, uuid.uuid4().hex[:12], size)
        header = np.ndarray((), dtype=_HEADER, buffer=shm.buf)
        header[()] = np.zeros((), dtype=_HEADER)
        header["capacity"] = max_samples
        del header
        return cls(shm, owner=True)

    @classmethod
    def attach(cls, name: str) -> SimulatedBoardLink:
        """Attach to a block created by another process (never unlinks it)."""
        try:
            shm = attach_block(name)
        except FileNotFoundError:
            raise DaqError(f"simulated DAQ link {name} does not exist") from None
        return cls(shm, owner=False)

    @property
    def name(self) -> str:
        return self._shm.name  # type: ignore[attr-defined]

    @property
    def capacity(self) -> int:
        return self._data.shape[1]

    def close(self) -> None:
        """Unmap; the owner also removes the block."""
        self._header = None
        self._data = None
        release_block(self._shm, unlink=self._owner)  # type: ignore[arg-type]

    # -- readers (any process) ------------------------------------------------------------------

    def state(self) -> LinkState:
        return self._consistent(self._read_state)

    def channels(self, names: Sequence[str]) -> tuple[LinkState, dict[str, np.ndarray]]:
        """The state and copies of the named channels' period, read consistently."""

        def read() -> tuple[LinkState, dict[str, np.ndarray]]:
            state = self._read_state()
            n = state.n_samples
            return state, {name: self._data[_CHANNEL_INDEX[name], :n].copy() for name in names}

        return self._consistent(read)

    def outputs(self, at: float | None = None) -> dict[str, float]:
        """The value on every output now (or at monotonic time ``at``)."""

        def read() -> dict[str, float]:
            state = self._read_state()
            if not state.running or state.n_samples == 0:
                return state.held
            t = time.monotonic() if at is None else at
            k = state.sample_index(t)
            if k < 0:
                return state.held
            column = self._data[:, k % state.n_samples]
            return {name: float(column[i]) for name, i in _CHANNEL_INDEX.items()}

        return self._consistent(read)

    def _read_state(self) -> LinkState:
        h = self._header
        return LinkState(
            running=bool(h["running"]),
            generation=int(h["generation"]),
            n_samples=int(h["n_samples"]),
            t0=float(h["t0"]),
            sample_rate_hz=float(h["sample_rate_hz"]),
            piezo_um_per_v=float(h["piezo_um_per_v"]),
            held={name: float(h["outputs"][i]) for name, i in _CHANNEL_INDEX.items()},
        )

    def _consistent(self, read: Callable[[], _T]) -> _T:
        """Seqlock read: retry while the board rewrites the block."""
        header = self._header
        for _ in range(_SEQLOCK_TRIES):
            before = int(header["seq"])
            if before % 2:
                time.sleep(0)
                continue
            value = read()
            if int(header["seq"]) == before:
                return value
        # A board killed in the middle of an update leaves the lock odd forever.
        _log.warning("simulated DAQ link %s: board never finished an update", self.name)
        return read()

    # -- writer (the board's process) ----------------------------------------------------------

    def publish(
        self,
        *,
        running: bool | None = None,
        t0: float | None = None,
        periods: dict[str, np.ndarray] | None = None,
        sample_rate_hz: float | None = None,
        piezo_um_per_v: float | None = None,
        held: dict[str, float] | None = None,
        new_generation: bool = False,
    ) -> None:
        h = self._header
        h["seq"] += 1
        try:
            h["board_pid"] = os.getpid()
            if periods is not None:
                n = len(next(iter(periods.values())))
                for name, samples in periods.items():
                    self._data[_CHANNEL_INDEX[name], :n] = samples
                h["n_samples"] = n
            if sample_rate_hz is not None:
                h["sample_rate_hz"] = sample_rate_hz
            if piezo_um_per_v is not None:
                h["piezo_um_per_v"] = piezo_um_per_v
            if held is not None:
                for name, value in held.items():
                    h["outputs"][_CHANNEL_INDEX[name]] = value
            if t0 is not None:
                h["t0"] = t0
            if running is not None:
                h["running"] = int(running)
            if new_generation:
                h["generation"] += 1
        finally:
            h["seq"] += 1

"""Simulated DAQ board that publishes what it plays through shared memory, and its camera side.

Nothing is played sample by sample: the board publishes the period, the sample rate and the
monotonic time ``t0`` of sample 0 (``time.monotonic`` is system-wide on Linux), so any process
computes which sample is on the outputs at any time. The simulated camera finds its trigger edges
in the published ``camera_trigger`` waveform and the light-sheet z in ``z_galvo``, so a
misaligned waveform really shows up in the images.

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

import numpy as np

from lightsheet.hardware.daq import OUTPUT_NAMES, DaqBoard, DaqError, DaqSettings
from lightsheet.runtime.shm import attach_block, create_block, release_block

PURPOSE = "daqsim"
DEFAULT_MAX_SAMPLES = 1 << 20
TRIGGER_THRESHOLD_V = 1.4  # TTL switching threshold of a camera's trigger input
POLL_S = 0.005  # how often a waiting reader looks for a start, stop or new waveform
_SEQLOCK_TRIES = 10_000
# Times computed from sample indices come back a hair off after the round trip through seconds.
_TIME_TOLERANCE = 1e-6  # samples

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
        return math.floor((t - self.t0) * self.sample_rate_hz + _TIME_TOLERANCE)


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
        self._header = None  # type: ignore[assignment]
        self._data = None  # type: ignore[assignment]
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

    def _consistent(self, read: Callable[[], object]) -> object:
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


def periodic_lag_response(samples: np.ndarray, sample_rate_hz: float, tau_s: float) -> np.ndarray:
    """Steady state of a first-order lag driven by a periodic command (one period out).

    Exact for y[k] = a·y[k-1] + (1-a)·u[k] with the period repeating forever, computed in the
    frequency domain instead of running the filter until it settles.
    """
    u = np.asarray(samples, dtype=np.float64)
    if tau_s <= 0 or u.size < 2:
        return u.copy()
    a = math.exp(-1.0 / (sample_rate_hz * tau_s))
    spectrum = np.fft.rfft(u)
    delay = np.exp(-2j * np.pi * np.arange(spectrum.size) / u.size)
    return np.fft.irfft(spectrum * (1.0 - a) / (1.0 - a * delay), n=u.size)


class SimulatedDaqBoard(DaqBoard):
    """A real implementation of the protocol whose outputs are visible through the link."""

    def __init__(
        self,
        link_name: str | None = None,
        piezo_lag_ms: float = 2.0,
        max_samples: int = DEFAULT_MAX_SAMPLES,
    ) -> None:
        super().__init__()
        if piezo_lag_ms < 0:
            raise ValueError(f"piezo_lag_ms must not be negative (got {piezo_lag_ms})")
        if link_name is None:
            self._link = SimulatedBoardLink.create(max_samples)
        else:
            self._link = SimulatedBoardLink.attach(link_name)
        self._lag_s = piezo_lag_ms / 1000.0
        self._piezo_lagged: np.ndarray | None = None
        self._last_period_read = 0
        self._t0 = 0.0

    @property
    def link_name(self) -> str:
        return self._link.name

    def outputs(self) -> dict[str, float]:
        """The value on every output now."""
        return self._link.outputs()

    def _do_configure(self, settings: DaqSettings) -> None:
        self._link.publish(
            running=False,
            sample_rate_hz=settings.sample_rate_hz,
            piezo_um_per_v=settings.piezo_um_per_v,
            new_generation=True,
        )

    def _do_write(self, channels: dict[str, np.ndarray]) -> None:
        settings = self._settings
        assert settings is not None
        n = len(channels["piezo"])
        if n > self._link.capacity:
            raise DaqError(
                f"period of {n} samples exceeds the simulated board's buffer of "
                f"{self._link.capacity} samples (create the link with a larger max_samples)"
            )
        self._piezo_lagged = periodic_lag_response(
            channels["piezo"], settings.sample_rate_hz, self._lag_s
        )
        self._link.publish(periods=channels, new_generation=True)

    def _do_start(self) -> None:
        self._t0 = time.monotonic()
        self._last_period_read = 0
        self._link.publish(running=True, t0=self._t0, new_generation=True)

    def _do_stop(self) -> None:
        # Like a real board, the outputs hold the sample that was playing when it stopped.
        self._link.publish(running=False, held=self._link.outputs())

    def _do_set_static(self, values: dict[str, float]) -> None:
        self._link.publish(held=values)

    def _do_read_piezo_v(self) -> np.ndarray:
        settings = self._settings
        assert settings is not None and self._piezo_lagged is not None
        period_s = len(self._piezo_lagged) / settings.sample_rate_hz
        wanted = self._last_period_read + 1
        complete = math.floor((time.monotonic() - self._t0) / period_s)
        # A reader that fell behind gets the latest complete period, not a backlog.
        wanted = max(wanted, complete)
        ready_at = self._t0 + wanted * period_s
        delay = ready_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # a blocking read, like the driver's
        self._last_period_read = wanted
        return self._piezo_lagged.copy()

    def _do_close(self) -> None:
        self._link.close()


class SimulatedTriggerSource:
    """Camera side of the simulated board: trigger edges and light-sheet z, from the link.

    ``calibration`` is ``(z_galvo_slope_v_per_um, z_galvo_offset_v)``; without it the z is the
    commanded piezo position. ``exposure_s`` gives the camera's current exposure for ``current_z``.
    """

    def __init__(
        self,
        link_name: str,
        calibration: tuple[float, float] | None = None,
        exposure_s: Callable[[], float] | None = None,
        threshold_v: float = TRIGGER_THRESHOLD_V,
    ) -> None:
        if calibration is not None and calibration[0] == 0:
            raise ValueError("z_galvo_slope_v_per_um must not be zero")
        self._link = SimulatedBoardLink.attach(link_name)
        self._calibration = calibration
        self._exposure_s = exposure_s
        self._threshold_v = threshold_v
        self._after = time.monotonic()
        self._last: tuple[int, int] | None = None  # (generation, sample index) last returned
        self._last_time: float | None = None
        self._z_pending = False
        self._gen = -1
        self._state: LinkState | None = None
        self._edges = np.empty(0, dtype=np.int64)
        self._z_prefix = np.zeros(1)

    @property
    def last_trigger(self) -> float | None:
        """Monotonic time of the last edge returned by wait_trigger."""
        return self._last_time

    def reset(self) -> None:
        """Forget earlier edges: the next one returned comes after now (call on camera start)."""
        self._after = time.monotonic()
        self._last = None

    def wait_trigger(self, timeout_s: float) -> float | None:
        """Wait for the next rising edge of camera_trigger; its monotonic time, or None."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self._refresh()
            now = time.monotonic()
            if not state.running or state.n_samples == 0 or self._edges.size == 0:
                if now >= deadline:
                    return None
                time.sleep(min(POLL_S, deadline - now))
                continue
            k = self._next_edge(state)
            t = state.t0 + k / state.sample_rate_hz
            if t <= now:
                return self._take(state, k, t)
            if now >= deadline:
                return None
            # Sleep until the edge, but look again now and then for a stop or a new waveform.
            time.sleep(min(t - now, deadline - now, 20 * POLL_S))
            if time.monotonic() >= t and self._link.state().generation == state.generation:
                return self._take(state, k, t)

    def z_at_exposure(self, t_start: float, exposure_s: float) -> float:
        """Light-sheet z (µm) averaged over an exposure starting at monotonic ``t_start``."""
        state = self._refresh()
        if not state.running or state.n_samples == 0:
            return self._z_of_volts(self._held_volts(state))
        start = (t_start - state.t0) * state.sample_rate_hz
        end = start + max(exposure_s, 0.0) * state.sample_rate_hz
        a = max(0, math.floor(start + _TIME_TOLERANCE))
        b = max(a + 1, math.ceil(end - _TIME_TOLERANCE))
        total = self._cumulative(b, state.n_samples) - self._cumulative(a, state.n_samples)
        return self._z_of_volts(total / (b - a))

    def laser_on(self, t_start: float, exposure_s: float, triggered: bool = True) -> bool:
        """Whether the laser was unblanked in the middle of an exposure starting at ``t_start``.

        A free-running camera (``triggered`` False) is not in step with the blanking waveform;
        while the board plays, such exposures count as lit and only held outputs (paused,
        calibration, dark frame) decide.
        """
        if not triggered and self._link.state().running:
            return True
        value = self._link.outputs(at=t_start + max(exposure_s, 0.0) / 2)["laser_blanking"]
        return value > self._threshold_v

    def current_z(self) -> float:
        """z during the exposure started by the last trigger (used once), else at now."""
        exposure = self._exposure_s() if self._exposure_s is not None else 0.0
        if self._z_pending and self._last_time is not None:
            self._z_pending = False
            return self.z_at_exposure(self._last_time, exposure)
        return self.z_at_exposure(time.monotonic(), exposure)

    def close(self) -> None:
        self._link.close()

    # -- helpers --------------------------------------------------------------------------------

    def _take(self, state: LinkState, k: int, t: float) -> float:
        self._last = (state.generation, k)
        self._last_time = t
        self._z_pending = True
        return t

    def _next_edge(self, state: LinkState) -> int:
        if self._last is not None and self._last[0] == state.generation:
            first = self._last[1] + 1
        else:
            after = self._after if self._last_time is None else max(self._after, self._last_time)
            first = max(0, state.sample_index(after) + 1)
        cycle, offset = divmod(first, state.n_samples)
        j = int(np.searchsorted(self._edges, offset))
        if j < self._edges.size:
            return cycle * state.n_samples + int(self._edges[j])
        return (cycle + 1) * state.n_samples + int(self._edges[0])

    def _refresh(self) -> LinkState:
        state = self._link.state()
        if state.generation != self._gen:
            z_channel = "z_galvo" if self._calibration is not None else "piezo"
            state, periods = self._link.channels(("camera_trigger", z_channel))
            high = periods["camera_trigger"] > self._threshold_v
            self._edges = np.flatnonzero(high & ~np.roll(high, 1)).astype(np.int64)
            self._z_prefix = np.concatenate(([0.0], np.cumsum(periods[z_channel])))
            self._gen = state.generation
        self._state = state
        return state

    def _cumulative(self, k: int, n: int) -> float:
        cycles, rest = divmod(k, n)
        return cycles * self._z_prefix[n] + self._z_prefix[rest]

    def _held_volts(self, state: LinkState) -> float:
        return state.held["z_galvo" if self._calibration is not None else "piezo"]

    def _z_of_volts(self, volts: float) -> float:
        if self._calibration is None:
            state = self._state
            um_per_v = state.piezo_um_per_v if state is not None else 0.0
            return float(volts * um_per_v)
        slope, offset = self._calibration
        return float((volts - offset) / slope)


def simulated_camera_sources(
    link_name: str,
    calibration: tuple[float, float] | None,
    exposure_ms: Callable[[], float],
) -> tuple[SimulatedTriggerSource, Callable[[], float]]:
    """The (trigger_source, z_source) pair the simulated camera takes, for one link.

    ``trigger_source.wait_trigger(timeout_s)`` returns edge times; ``z_source()`` the z during the
    exposure that the last returned edge started (call it after wait_trigger).
    """
    source = SimulatedTriggerSource(
        link_name, calibration, exposure_s=lambda: exposure_ms() / 1000.0
    )
    return source, source.current_z

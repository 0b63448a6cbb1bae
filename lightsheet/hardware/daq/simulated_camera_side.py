"""The camera side of the simulated DAQ board: trigger edges and light-sheet z, read from the link.

The simulated camera finds its trigger edges in the published ``camera_trigger`` waveform and the
light-sheet z in ``z_galvo``, so a misaligned waveform really shows up in the images.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from lightsheet.hardware.daq.simulated_link import TIME_TOLERANCE, LinkState, SimulatedBoardLink

TRIGGER_THRESHOLD_V = 1.4  # TTL switching threshold of a camera's trigger input
POLL_S = 0.005  # how often a waiting reader looks for a start, stop or new waveform


class SimulatedTriggerSource:
    """Camera side of the simulated board: trigger edges and light-sheet z, from the link.

    ``calibration`` is ``(z_galvo_slope_v_per_um, z_galvo_offset_v)``; without it the z is the
    commanded piezo position. ``exposure_s`` gives the camera's current exposure for ``z_during``.
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
        self._gen = -1
        self._state: LinkState | None = None
        self._edges = np.empty(0, dtype=np.int64)
        self._z_prefix = np.zeros(1)

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
        a = max(0, math.floor(start + TIME_TOLERANCE))
        b = max(a + 1, math.ceil(end - TIME_TOLERANCE))
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

    def z_during(self, t_start: float) -> float:
        """z averaged over the camera's current exposure starting at monotonic ``t_start``."""
        exposure = self._exposure_s() if self._exposure_s is not None else 0.0
        return self.z_at_exposure(t_start, exposure)

    def close(self) -> None:
        self._link.close()

    # -- helpers --------------------------------------------------------------------------------

    def _take(self, state: LinkState, k: int, t: float) -> float:
        self._last = (state.generation, k)
        self._last_time = t
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
) -> tuple[SimulatedTriggerSource, Callable[[float], float]]:
    """The (trigger_source, z_source) pair the simulated camera takes, for one link.

    ``trigger_source.wait_trigger(timeout_s)`` returns edge times; ``z_source(t_start)`` the z
    during an exposure starting at ``t_start`` (an edge's time, or later for a late camera).
    """
    source = SimulatedTriggerSource(
        link_name, calibration, exposure_s=lambda: exposure_ms() / 1000.0
    )
    return source, source.z_during

"""Simulated DAQ board: a real implementation of the protocol that publishes what it plays.

Its outputs go to a shared-memory link (``simulated_link.py``) instead of wires; the simulated
camera reads its trigger edges and the sheet's z from there (``simulated_camera_side.py``), and
the piezo read-back is the command through a first-order lag, as a real piezo follows.
"""

from __future__ import annotations

import math
import time

import numpy as np

from lightsheet.hardware.daq.protocol import DaqBoard, DaqError, DaqSettings
from lightsheet.hardware.daq.simulated_link import DEFAULT_MAX_SAMPLES, SimulatedBoardLink


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

    def _do_piezo_period_ready(self) -> bool:
        settings = self._settings
        assert settings is not None and self._piezo_lagged is not None
        period_s = len(self._piezo_lagged) / settings.sample_rate_hz
        return time.monotonic() >= self._t0 + (self._last_period_read + 1) * period_s

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

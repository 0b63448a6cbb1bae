"""The camera trigger as a counter makes it: evenly spaced pulses of one width, or a refusal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightsheet.hardware.daq.protocol import DaqError


@dataclass(frozen=True)
class PulseTrain:
    """A camera trigger a counter can produce: evenly spaced pulses of one width."""

    frequency_hz: float
    duty_cycle: float
    initial_delay_s: float
    pulses_per_period: int


def pulse_train(samples: np.ndarray, threshold_v: float, sample_rate_hz: float) -> PulseTrain:
    """The counter equivalent of a trigger waveform, or DaqError if it has none."""
    high = samples > threshold_v
    rising = np.flatnonzero(high & ~np.roll(high, 1))
    falling = np.flatnonzero(~high & np.roll(high, 1))
    if rising.size == 0:
        raise DaqError("counter camera trigger: the camera_trigger waveform has no pulse")
    n = samples.size
    spacing = np.diff(rising, append=rising[0] + n)
    # Width of each pulse: from its rising edge to the next falling edge (circularly).
    width = (falling[np.searchsorted(falling, rising) % falling.size] - rising) % n
    if np.any(spacing != spacing[0]) or np.any(width != width[0]):
        raise DaqError(
            "counter camera trigger needs evenly spaced pulses of equal width; this waveform "
            f"has spacings {sorted(set(spacing.tolist()))} and widths "
            f"{sorted(set(width.tolist()))} samples (use camera_trigger_kind ao or do)"
        )
    return PulseTrain(
        frequency_hz=sample_rate_hz / float(spacing[0]),
        duty_cycle=float(width[0]) / float(spacing[0]),
        initial_delay_s=float(rising[0]) / sample_rate_hz,
        pulses_per_period=int(rising.size),
    )

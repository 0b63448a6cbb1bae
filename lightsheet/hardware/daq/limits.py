"""Safety limits of analog output channels, checked before any waveform reaches a board.

Lives in the hardware layer so that every DAQ backend's public ``write`` and the scanning layer
that builds waveforms apply the very same check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


class WaveformLimitError(ValueError):
    """A waveform would drive a channel outside its configured limits; nothing was written."""


@dataclass(frozen=True)
class ChannelLimits:
    """Voltage range, largest step per sample and the value the channel rests at when safe."""

    min_v: float
    max_v: float
    max_step_v: float
    safe_v: float = 0.0


def check_waveform(name: str, samples: np.ndarray, limits: ChannelLimits) -> None:
    """Refuse one channel's periodic waveform, naming the channel, the limit and the value."""
    if samples.ndim != 1 or samples.size == 0:
        raise WaveformLimitError(f"channel {name}: waveform must be a non-empty 1-D array")
    if not np.all(np.isfinite(samples)):
        raise WaveformLimitError(f"channel {name}: waveform contains NaN or infinite values")
    low, high = float(samples.min()), float(samples.max())
    if low < limits.min_v:
        raise WaveformLimitError(
            f"channel {name}: {low:.4g} V is below the minimum of {limits.min_v:.4g} V"
        )
    if high > limits.max_v:
        raise WaveformLimitError(
            f"channel {name}: {high:.4g} V is above the maximum of {limits.max_v:.4g} V"
        )
    # The waveform regenerates, so the wrap from the last sample back to the first is a step too.
    steps = np.abs(np.diff(samples, append=samples[:1]))
    worst = int(np.argmax(steps))
    if steps[worst] > limits.max_step_v:
        raise WaveformLimitError(
            f"channel {name}: step of {steps[worst]:.4g} V at sample {worst} exceeds the largest "
            f"allowed step of {limits.max_step_v:.4g} V per sample"
        )


def check_waveforms(
    channels: Mapping[str, np.ndarray], limits: Mapping[str, ChannelLimits]
) -> None:
    """Check every channel of a waveform set; every channel needs configured limits."""
    lengths = {name: len(samples) for name, samples in channels.items()}
    if len(set(lengths.values())) > 1:
        raise WaveformLimitError(f"channels differ in length: {lengths}")
    for name, samples in channels.items():
        if name not in limits:
            raise WaveformLimitError(f"channel {name}: no limits configured for this channel")
        check_waveform(name, np.asarray(samples, dtype=float), limits[name])

"""The DAQ board protocol: analog outputs that regenerate one period, plus the piezo read-back.

Public methods validate (every waveform against its channel's limits) before anything reaches a
backend, so a refused waveform never leaves the process; backends only implement the ``_do_*``
methods. Stopping, closing and every failure path leave the outputs at their safe values.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lightsheet.hardware.daq.limits import (
    ChannelLimits,
    WaveformLimitError,
    check_waveform,
    check_waveforms,
)

OUTPUT_NAMES = ("piezo", "z_galvo", "lateral_galvo", "laser_blanking", "camera_trigger")
CAMERA_TRIGGER_KINDS = ("ao", "do", "counter")

_log = logging.getLogger(__name__)


class DaqError(RuntimeError):
    """The board refused or failed an operation; ``code`` is the driver's status code if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OutputChannel:
    """One output: where it is wired (e.g. ``Dev1/ao0``) and what it may be driven to."""

    physical: str
    limits: ChannelLimits


@dataclass(frozen=True)
class ReadbackChannel:
    """The analog input that measures the piezo position (volts, same scale as the command)."""

    physical: str
    min_v: float
    max_v: float


@dataclass(frozen=True)
class DaqSettings:
    """Everything a board needs to be configured; built from the ``daq`` config section."""

    sample_rate_hz: float
    outputs: Mapping[str, OutputChannel]
    camera_trigger_kind: str = "ao"
    readback: ReadbackChannel | None = None
    piezo_um_per_v: float = 40.0
    start_trigger: str | None = None

    def __post_init__(self) -> None:
        missing = [name for name in OUTPUT_NAMES if name not in self.outputs]
        unknown = [name for name in self.outputs if name not in OUTPUT_NAMES]
        if missing or unknown:
            raise ValueError(
                f"DAQ outputs must be exactly {', '.join(OUTPUT_NAMES)}"
                f" (missing: {missing or 'none'}, unknown: {unknown or 'none'})"
            )
        if not self.sample_rate_hz > 0:
            raise ValueError(f"sample rate must be positive (got {self.sample_rate_hz})")
        if self.camera_trigger_kind not in CAMERA_TRIGGER_KINDS:
            raise ValueError(
                f"camera_trigger_kind must be one of {', '.join(CAMERA_TRIGGER_KINDS)} "
                f"(got {self.camera_trigger_kind!r})"
            )
        if not self.piezo_um_per_v > 0:
            raise ValueError(f"piezo_um_per_v must be positive (got {self.piezo_um_per_v})")

    @classmethod
    def from_config(cls, daq_cfg: Any) -> DaqSettings:
        """Build from the ``daq`` section (duck-typed: attributes or mapping keys)."""
        channels = _field(daq_cfg, "channels")
        outputs = {}
        for name in OUTPUT_NAMES:
            ch = _field(channels, name)
            outputs[name] = OutputChannel(
                physical=str(_field(ch, "physical")),
                limits=ChannelLimits(
                    min_v=float(_field(ch, "min_v")),
                    max_v=float(_field(ch, "max_v")),
                    max_step_v=float(_field(ch, "max_step_v")),
                    safe_v=float(_field(ch, "safe_v")),
                ),
            )
        readback_cfg = _field(daq_cfg, "piezo_readback")
        readback = None
        if bool(_field(readback_cfg, "enabled")):
            readback = ReadbackChannel(
                physical=str(_field(readback_cfg, "physical")),
                min_v=float(_field(readback_cfg, "min_v")),
                max_v=float(_field(readback_cfg, "max_v")),
            )
        start_trigger = _field(daq_cfg, "start_trigger")
        return cls(
            sample_rate_hz=float(_field(daq_cfg, "sample_rate_hz")),
            outputs=outputs,
            camera_trigger_kind=str(_field(daq_cfg, "camera_trigger_kind")),
            readback=readback,
            piezo_um_per_v=float(_field(daq_cfg, "piezo_um_per_v")),
            start_trigger=None if start_trigger in (None, "") else str(start_trigger),
        )

    @property
    def limits(self) -> dict[str, ChannelLimits]:
        return {name: out.limits for name, out in self.outputs.items()}

    @property
    def safe_values(self) -> dict[str, float]:
        return {name: out.limits.safe_v for name, out in self.outputs.items()}


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


class DaqBoard(ABC):
    """A board that regenerates one period of every output and reads the piezo back.

    Writing while running restarts the generation from the first sample of the new period, so
    the new waveform starts in phase on every channel.
    """

    def __init__(self) -> None:
        self._settings: DaqSettings | None = None
        self._period: dict[str, np.ndarray] | None = None
        self._static: dict[str, float] = {}
        self._running = False
        self._closed = False

    # -- public protocol ------------------------------------------------------------------------

    @property
    def settings(self) -> DaqSettings | None:
        return self._settings

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def period(self) -> dict[str, np.ndarray] | None:
        """The waveform set last written (one period per channel), read-only copies."""
        return self._period

    def configure(self, settings: DaqSettings) -> None:
        """Set up the channels; outputs go to their safe values."""
        self._check_open()
        if self._running:
            raise DaqError("stop the board before configuring it")
        self._do_configure(settings)
        self._settings = settings
        self._period = None
        self._static = settings.safe_values
        self._do_set_safe()

    def write(self, channels: Mapping[str, np.ndarray]) -> None:
        """Load one period of every output, regenerated until stop; refused sets write nothing."""
        settings = self._require_settings()
        missing = [name for name in OUTPUT_NAMES if name not in channels]
        if missing:
            raise WaveformLimitError(
                f"waveform set lacks channel(s) {', '.join(missing)}: every output needs a period"
            )
        arrays = {name: np.array(channels[name], dtype=np.float64) for name in channels}
        check_waveforms(arrays, settings.limits)
        for samples in arrays.values():
            samples.setflags(write=False)
        if self._running:
            self._do_stop()
            self._running = False
            try:
                self._do_write(arrays)
                self._period = arrays
                self._do_start()
            except Exception:
                self._abort_to_safe(stop=True)
                raise
            self._running = True
        else:
            self._do_write(arrays)
            self._period = arrays

    def start(self) -> None:
        """Start the regeneration of the last written period on every channel at once."""
        self._require_settings()
        if self._period is None:
            raise DaqError("write a waveform set before starting the board")
        if self._running:
            return
        try:
            self._do_start()
        except Exception:
            self._abort_to_safe(stop=True)  # whatever part of the board did start
            raise
        self._running = True

    def stop(self) -> None:
        """Stop the generation; every output then rests at its safe value."""
        settings = self._require_settings()
        if self._running:
            self._do_stop()
            self._running = False
        self._do_set_safe()
        self._static = settings.safe_values

    def set_static(self, values: Mapping[str, float]) -> None:
        """Hold DC values (calibration mode); unnamed outputs keep their current static value."""
        settings = self._require_settings()
        if self._running:
            raise DaqError("stop the board before setting static outputs")
        for name, value in values.items():
            if name not in settings.outputs:
                raise WaveformLimitError(f"channel {name}: no such output")
            check_waveform(name, np.array([float(value)]), settings.outputs[name].limits)
        static = {**self._static, **{name: float(v) for name, v in values.items()}}
        self._do_set_static(static)
        self._static = static

    def read_piezo_um(self) -> np.ndarray | None:
        """Piezo position over one period of the generation (µm), None without a read-back.

        Successive calls return successive periods; the first one the period after start.
        """
        settings = self._require_settings()
        if settings.readback is None:
            return None
        if not self._running:
            raise DaqError("the piezo is read back only while the board is running")
        return self._do_read_piezo_v() * settings.piezo_um_per_v

    @property
    def session_names(self) -> tuple[str, ...]:
        """Driver sessions this board keeps outside its own process (an NI gRPC server's tasks),
        which outlive it if the process dies: another process releases them with
        ``release_sessions`` before it takes the outputs over. Empty for most boards."""
        return ()

    def release_sessions(self, names: tuple[str, ...]) -> None:
        """Release the sessions a dead process left (see ``session_names``); before configure."""
        if names:
            raise DaqError(f"{type(self).__name__} keeps no sessions to release")

    def piezo_period_ready(self) -> bool:
        """Whether ``read_piezo_um`` would return at once (a whole period was recorded).

        A scan can be slow (a period of 100 s at 0.01 volumes/s): a caller that must stay
        responsive asks first instead of blocking for a period.
        """
        settings = self._require_settings()
        if settings.readback is None or not self._running:
            return False
        return self._do_piezo_period_ready()

    def set_safe(self) -> None:
        """Every output to its safe value (lasers blanked). Only logs when the board is gone."""
        if self._settings is None or self._closed:
            return
        self._abort_to_safe(stop=self._running)

    def close(self) -> None:
        """Go safe and release the board. Safe to call twice."""
        if self._closed:
            return
        self.set_safe()
        self._closed = True
        try:
            self._do_close()
        except Exception:
            _log.exception("closing the DAQ board failed")

    def __enter__(self) -> DaqBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------------

    def _abort_to_safe(self, stop: bool) -> None:
        settings = self._settings
        assert settings is not None
        if stop:
            try:
                self._do_stop()
            except Exception:
                _log.exception("stopping the generation failed while going safe")
        self._running = False
        try:
            self._do_set_safe()
            self._static = settings.safe_values
        except Exception:
            _log.exception("setting the DAQ outputs to their safe values failed")

    def _check_open(self) -> None:
        if self._closed:
            raise DaqError("the DAQ board is closed")

    def _require_settings(self) -> DaqSettings:
        self._check_open()
        if self._settings is None:
            raise DaqError("configure the DAQ board first")
        return self._settings

    # -- backend --------------------------------------------------------------------------------

    @abstractmethod
    def _do_configure(self, settings: DaqSettings) -> None:
        """Create the channels; raise DaqError if the hardware refuses them."""

    @abstractmethod
    def _do_write(self, channels: dict[str, np.ndarray]) -> None:
        """Load one validated period of every output (board stopped)."""

    @abstractmethod
    def _do_start(self) -> None:
        """Start regenerating the loaded period."""

    @abstractmethod
    def _do_stop(self) -> None:
        """Stop the generation (outputs are set safe separately)."""

    @abstractmethod
    def _do_set_static(self, values: dict[str, float]) -> None:
        """Drive every output to a DC value (board stopped)."""

    @abstractmethod
    def _do_piezo_period_ready(self) -> bool:
        """Whether a whole period of the read-back can be read without waiting."""

    @abstractmethod
    def _do_read_piezo_v(self) -> np.ndarray:
        """Read one period of the piezo read-back in volts (board running)."""

    @abstractmethod
    def _do_close(self) -> None:
        """Release the backend's resources."""

    def _do_set_safe(self) -> None:
        settings = self._settings
        assert settings is not None
        self._do_set_static(settings.safe_values)

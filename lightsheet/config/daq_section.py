"""The ``daq`` section: the board, its outputs with their safety limits, the piezo read-back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lightsheet.config.base import ConfigModel
from lightsheet.config.pydantic_issues import field_error


class AnalogOutput(ConfigModel):
    physical: str = Field(description="NI-DAQmx physical channel, e.g. Dev1/ao0.")
    min_v: float = Field(description="Lowest voltage the channel may ever output (V).")
    max_v: float = Field(description="Highest voltage the channel may ever output (V).")
    max_step_v: float = Field(
        gt=0, description="Largest change between two consecutive samples (V)."
    )
    safe_v: float = Field(description="Voltage the channel rests at when stopped or faulted (V).")

    @model_validator(mode="after")
    def _limits_are_consistent(self) -> AnalogOutput:
        if not self.min_v < self.max_v:
            raise field_error(
                "max_v", f"must be greater than min_v ({self.min_v:g}) (got {self.max_v:g})"
            )
        if not self.min_v <= self.safe_v <= self.max_v:
            raise field_error(
                "safe_v",
                f"must be between min_v and max_v ({self.min_v:g} to {self.max_v:g}) "
                f"(got {self.safe_v:g})",
            )
        return self


class ChannelsConfig(ConfigModel):
    piezo: AnalogOutput = Field(
        default_factory=lambda: AnalogOutput(
            physical="Dev1/ao0", min_v=0.0, max_v=10.0, max_step_v=0.05, safe_v=0.0
        ),
        description="Piezo that moves the detection objective in z.",
    )
    z_galvo: AnalogOutput = Field(
        default_factory=lambda: AnalogOutput(
            physical="Dev1/ao1", min_v=-5.0, max_v=5.0, max_step_v=0.05, safe_v=0.0
        ),
        description="Galvo that moves the light sheet in z, following the piezo.",
    )
    lateral_galvo: AnalogOutput = Field(
        default_factory=lambda: AnalogOutput(
            physical="Dev1/ao2", min_v=-5.0, max_v=5.0, max_step_v=0.5, safe_v=0.0
        ),
        description="Galvo that sweeps the beam sideways to form the sheet.",
    )
    laser_blanking: AnalogOutput = Field(
        default_factory=lambda: AnalogOutput(
            physical="Dev1/ao3", min_v=0.0, max_v=5.0, max_step_v=5.0, safe_v=0.0
        ),
        description="Laser blanking input: light on only while the camera exposes.",
    )
    camera_trigger: AnalogOutput = Field(
        default_factory=lambda: AnalogOutput(
            physical="Dev1/ao4", min_v=0.0, max_v=5.0, max_step_v=5.0, safe_v=0.0
        ),
        description="Camera trigger pulses (one per frame) when the camera is triggered "
        "externally; with camera_trigger_kind do or counter, physical names that line.",
    )


class PiezoReadbackConfig(ConfigModel):
    physical: str = Field(
        "Dev1/ai0", description="Analog input wired to the piezo controller's position monitor."
    )
    min_v: float = Field(-10.0, description="Lowest voltage of the input range (V).")
    max_v: float = Field(10.0, description="Highest voltage of the input range (V).")
    enabled: bool = Field(
        True, description="Record the measured piezo position alongside every frame."
    )

    @model_validator(mode="after")
    def _range_is_ordered(self) -> PiezoReadbackConfig:
        if not self.min_v < self.max_v:
            raise field_error(
                "max_v", f"must be greater than min_v ({self.min_v:g}) (got {self.max_v:g})"
            )
        return self


class DaqSimulationConfig(ConfigModel):
    piezo_lag_ms: float = Field(
        2.0, ge=0, description="Delay with which the simulated piezo follows its command (ms)."
    )


class DaqConfig(ConfigModel):
    backend: Literal["simulated", "nidaqmx"] = Field(
        "simulated", description="simulated: no hardware; nidaqmx: a National Instruments board."
    )
    sample_rate_hz: float = Field(
        20000.0, ge=1000, le=2_000_000, description="Samples per second on every output (Hz)."
    )
    channels: ChannelsConfig = Field(
        default_factory=ChannelsConfig,
        description="The analog outputs, with the safety limits every waveform is checked against.",
    )
    camera_trigger_kind: Literal["ao", "do", "counter"] = Field(
        "ao",
        description="How camera trigger pulses are made: analog output, digital line or counter.",
    )
    piezo_readback: PiezoReadbackConfig = Field(
        default_factory=PiezoReadbackConfig, description="Measured piezo position."
    )
    piezo_um_per_v: float = Field(
        40.0, gt=0, description="Piezo travel per volt of command (micrometres per volt)."
    )
    simulated: DaqSimulationConfig = Field(
        default_factory=DaqSimulationConfig, description="Settings of the simulated DAQ board."
    )
    start_trigger: str | None = Field(
        None,
        description="Terminal of a start trigger shared by several boards, e.g. /Dev1/PFI0; "
        "null = each board starts on its own.",
    )
    grpc_address: str = Field(
        "localhost:31763",
        description="host:port where `lightsheet rehearse` serves and finds the simulated NI "
        "server.",
    )
    use_grpc: bool = Field(
        False,
        description="nidaqmx: drive the board through the NI gRPC Device Server at grpc_address "
        "(a board in another computer, or `lightsheet rehearse --serve`) instead of the local "
        "driver.",
    )

"""The rig configuration: one pydantic model per YAML section.

Every field has a default describing the simulated rig, so an empty file is a working config,
and a description, from which the annotated default file (config/simulated.yaml) is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from lightsheet.config.pydantic_issues import field_error

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
BYTES_PER_MB = 2**20
_UNSET = object()


class ConfigModel(BaseModel):
    """Base of every section: unknown keys are errors, and assignments are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Pydantic stores an assigned value before running the model validators; when one of
        # them refuses it, put the previous value back so a refused assignment changes nothing.
        previous = self.__dict__.get(name, _UNSET)
        fields_set = set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except ValidationError:
            if previous is not _UNSET:
                self.__dict__[name] = previous
                self.__pydantic_fields_set__.clear()
                self.__pydantic_fields_set__.update(fields_set)
            raise

    def updated(self, **changes: Any) -> Self:
        """A validated copy with several fields changed at once.

        Assigning one field at a time cannot pass through a state that a cross-field rule
        refuses (trigger mode "wait" before its port is set); this validates them together.
        """
        return self.model_validate({**self.model_dump(), **changes})

    @model_validator(mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, data: Any) -> Any:
        # `camera:` with every key commented out loads as null; the operator means "defaults".
        return {} if data is None else data


# --- camera ---------------------------------------------------------------------------------


class RoiConfig(ConfigModel):
    x: int = Field(0, ge=0, description="Left edge of the region of interest on the sensor (px).")
    y: int = Field(0, ge=0, description="Top edge of the region of interest on the sensor (px).")
    width: int | None = Field(
        None, gt=0, description="Width of the region of interest (px); null = to the sensor edge."
    )
    height: int | None = Field(
        None, gt=0, description="Height of the region of interest (px); null = to the sensor edge."
    )


class CameraSimulationConfig(ConfigModel):
    seed: int = Field(0, description="Random seed of the simulated sample and noise.")
    dark_offset: int = Field(
        100, ge=0, le=10000, description="Counts the simulated camera reads with no light."
    )
    read_noise: float = Field(2.0, ge=0, description="Read noise of the simulated camera (counts).")
    photons_per_count: float = Field(
        1.0, gt=0, description="Photons per count of the simulated camera (gain)."
    )
    brightness: float = Field(
        1000.0, gt=0, description="Photons per pixel per millisecond at the brightest bead."
    )
    n_beads: int = Field(400, ge=0, description="Fluorescent beads in the simulated sample.")
    stamp_frame_id: bool = Field(
        False, description="Write the frame id into the first pixels of each frame (for tests)."
    )
    drop_frame_ids: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list,
        description="Frame ids the simulated camera skips, to exercise gap handling.",
    )


class CameraConfig(ConfigModel):
    backend: Literal["simulated"] = Field(
        "simulated", description="Camera driver; simulated renders beads, no hardware needed."
    )
    exposure_ms: float = Field(
        10.0, ge=0.01, le=10000, description="Exposure time of each frame in milliseconds."
    )
    binning: Literal[1, 2, 4] = Field(1, description="Pixels combined along each sensor axis.")
    sensor_width: int = Field(1024, ge=16, le=8192, description="Sensor width in pixels.")
    sensor_height: int = Field(1024, ge=16, le=8192, description="Sensor height in pixels.")
    roi: RoiConfig = Field(
        default_factory=RoiConfig,
        description="Region of the sensor that is read out, in unbinned sensor pixels.",
    )
    trigger_mode: Literal["internal", "external"] = Field(
        "external",
        description="internal: the camera free-runs; external: the DAQ's camera trigger "
        "starts every frame.",
    )
    pixel_size_um: float = Field(
        0.65, gt=0, description="Pixel size in the sample (micrometres), magnification included."
    )
    readout_ms: float = Field(
        0.0, ge=0, description="Extra time per frame after the exposure (milliseconds)."
    )
    simulated: CameraSimulationConfig = Field(
        default_factory=CameraSimulationConfig, description="Settings of the simulated camera."
    )

    @model_validator(mode="after")
    def _roi_fits_sensor(self) -> CameraConfig:
        roi = self.roi
        for axis, start, size, sensor in (
            ("x", roi.x, roi.width, self.sensor_width),
            ("y", roi.y, roi.height, self.sensor_height),
        ):
            extent = "width" if axis == "x" else "height"
            if start >= sensor:
                raise field_error(
                    "roi", f"{axis} {start} is outside the sensor (sensor_{extent} {sensor})"
                )
            end = start + (size if size is not None else sensor - start)
            if end > sensor:
                raise field_error(
                    "roi",
                    f"does not fit the {self.sensor_width} x {self.sensor_height} sensor "
                    f"({axis} + {extent} = {end} > sensor_{extent} {sensor})",
                )
            if end - start < self.binning:
                raise field_error(
                    "roi", f"{extent} {end - start} is smaller than the binning ({self.binning})"
                )
        return self

    @property
    def roi_box(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) on the sensor with null sizes resolved to the sensor edge."""
        roi = self.roi
        width = roi.width if roi.width is not None else self.sensor_width - roi.x
        height = roi.height if roi.height is not None else self.sensor_height - roi.y
        return roi.x, roi.y, width, height

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of the frames the camera delivers, after roi and binning."""
        _, _, width, height = self.roi_box
        return height // self.binning, width // self.binning


# --- daq ------------------------------------------------------------------------------------


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


# --- scanning -------------------------------------------------------------------------------


class CalibrationPoint(ConfigModel):
    piezo_um: float = Field(description="Piezo position (micrometres).")
    galvo_v: float = Field(description="z galvo voltage that put the sheet in focus there (V).")


class CalibrationConfig(ConfigModel):
    z_galvo_slope_v_per_um: float = Field(
        0.02, description="z galvo volts per micrometre of piezo travel."
    )
    z_galvo_offset_v: float = Field(-2.0, description="z galvo voltage at piezo position 0 (V).")
    points: list[CalibrationPoint] = Field(
        default_factory=list,
        description="Measured in-focus pairs; slope and offset are fitted to them.",
    )


class ScanningConfig(ConfigModel):
    mode: Literal["volumetric", "planar"] = Field(
        "volumetric",
        description="volumetric: sweep z and take n_planes per volume; planar: a single plane "
        "at planar_z_um.",
    )
    z_start_um: float = Field(0.0, description="Piezo position of the first plane (micrometres).")
    z_end_um: float = Field(200.0, description="Piezo position of the last plane (micrometres).")
    n_planes: int = Field(40, ge=1, le=2000, description="Planes per volume.")
    volume_rate_hz: float = Field(2.0, ge=0.01, le=100, description="Volumes per second.")
    skip_planes_start: int = Field(
        0, ge=0, description="Planes at the start of each sweep that are acquired but not saved."
    )
    skip_planes_end: int = Field(
        0, ge=0, description="Planes at the end of each sweep that are acquired but not saved."
    )
    flyback_fraction: float = Field(
        0.1, ge=0.01, le=0.5, description="Part of each volume period spent returning to z_start."
    )
    lateral_frequency_hz: float = Field(
        800.0, gt=0, description="Frequency of the lateral galvo sweep that forms the sheet (Hz)."
    )
    lateral_amplitude_v: float = Field(
        1.0, ge=0, description="Amplitude of the lateral galvo sweep around 0 V (V)."
    )
    planar_z_um: float = Field(
        100.0, description="Piezo position of the plane in planar mode (micrometres)."
    )
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig,
        description="z galvo voltage = slope x piezo position + offset keeps the sheet in focus.",
    )

    @model_validator(mode="after")
    def _sweep_is_usable(self) -> ScanningConfig:
        if self.z_end_um == self.z_start_um:
            raise field_error("z_end_um", f"must differ from z_start_um (both {self.z_end_um:g})")
        skipped = self.skip_planes_start + self.skip_planes_end
        if skipped >= self.n_planes:
            raise field_error(
                "skip_planes_end" if self.skip_planes_end else "skip_planes_start",
                f"skip_planes_start + skip_planes_end ({skipped}) must be less than "
                f"n_planes ({self.n_planes})",
            )
        return self

    def z_positions_um(self) -> list[float]:
        """Piezo position of every plane of a volume, z_start_um to z_end_um evenly spaced."""
        if self.n_planes == 1:
            return [self.z_start_um]
        step = (self.z_end_um - self.z_start_um) / (self.n_planes - 1)
        return [self.z_start_um + index * step for index in range(self.n_planes)]


# --- trigger, saving, buffers, viewer, logging -----------------------------------------------


class TriggerConfig(ConfigModel):
    mode: Literal["none", "wait", "send"] = Field(
        "none",
        description="none: start at once; wait: start when the device on port says so; "
        "send: tell the device on port when acquisition starts.",
    )
    port: str | None = Field(
        None, description="Serial device (e.g. /dev/ttyUSB0, COM3) or pyserial URL (loop://)."
    )
    baudrate: int = Field(
        115200, gt=0, description="Serial speed; common values: 9600, 19200, 57600, 115200."
    )
    timeout_s: float = Field(5.0, gt=0, description="How long to wait for the device (seconds).")
    duration_s: float | None = Field(
        None, gt=0, description="Experiment duration when the device gives none (seconds)."
    )

    @model_validator(mode="after")
    def _port_when_used(self) -> TriggerConfig:
        if self.mode != "none" and not self.port:
            raise field_error("port", f"required when mode is {self.mode!r}")
        return self


class SavingConfig(ConfigModel):
    chunk_ram_mb: float = Field(
        1024.0,
        gt=0,
        description="RAM budget of one chunk file (MB); sets volumes per chunk, at least 1.",
    )
    compression: Literal["none", "blosc-lz4", "blosc-zstd"] = Field(
        "none", description="Compression of the saved frames."
    )
    compression_level: int = Field(
        5, ge=0, le=9, description="Compression level; ignored when compression is none."
    )
    default_dir: str = Field(
        "~/lightsheet-data", description="Folder the GUI proposes for new acquisitions."
    )

    def volumes_per_chunk(self, volume_bytes: int) -> int:
        """Volumes that fit the chunk RAM budget; always at least one."""
        return max(1, int(self.chunk_ram_mb * BYTES_PER_MB) // max(1, volume_bytes))

    def default_path(self) -> Path:
        """``default_dir`` with ``~`` expanded."""
        return Path(self.default_dir).expanduser()


class BuffersConfig(ConfigModel):
    frame_ring_mb: float = Field(
        256.0, gt=0, description="Shared memory for frames between camera and dispatcher (MB)."
    )
    volume_ring_mb: float = Field(
        512.0, gt=0, description="Shared memory for volumes between dispatcher and saver (MB)."
    )
    preview_hz: float = Field(30.0, ge=1, le=120, description="Preview updates per second.")

    @property
    def frame_ring_bytes(self) -> int:
        """``frame_ring_mb`` in bytes (1 MB = 2**20 bytes)."""
        return int(self.frame_ring_mb * BYTES_PER_MB)

    @property
    def volume_ring_bytes(self) -> int:
        """``volume_ring_mb`` in bytes (1 MB = 2**20 bytes)."""
        return int(self.volume_ring_mb * BYTES_PER_MB)


class ViewerConfig(ConfigModel):
    contrast: Literal["auto_once", "auto", "manual"] = Field(
        "auto_once",
        description="auto_once: set from the first frame; auto: follow every frame; "
        "manual: use contrast_limits.",
    )
    colormap: str = Field("gray", description="napari colormap of the preview.")
    contrast_limits: tuple[int, int] | None = Field(
        None, description="[low, high] display range in counts; null = from the data."
    )

    @field_validator("contrast_limits", mode="before")
    @classmethod
    def _two_limits(cls, limits: Any) -> Any:
        if isinstance(limits, (list, tuple)) and len(limits) != 2:
            raise field_error("", f"expected two numbers [low, high] (got a list of {len(limits)})")
        return limits

    @field_validator("contrast_limits")
    @classmethod
    def _limits_are_ordered(cls, limits: tuple[int, int] | None) -> tuple[int, int] | None:
        if limits is not None and limits[0] >= limits[1]:
            raise field_error("", f"low must be less than high (got [{limits[0]}, {limits[1]}])")
        return limits


class LoggingConfig(ConfigModel):
    dir: str | None = Field(
        None,
        description="Folder of the log files; null = $XDG_STATE_HOME/lightsheet/logs "
        "(~/.local/state/lightsheet/logs).",
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe message written to the logs."
    )

    def resolved_dir(self) -> Path:
        """The log folder: ``dir`` with ``~`` expanded, or the user's state directory."""
        if self.dir is not None:
            return Path(self.dir).expanduser()
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "lightsheet" / "logs"


# --- the whole rig --------------------------------------------------------------------------


def _unsupported_version_message(version: object) -> str:
    supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
    return f"unsupported schema version {version!r} (this lightsheet reads version {supported})"


class RigConfig(ConfigModel):
    schema_version: int = Field(
        SCHEMA_VERSION, description="Layout version of this file; this lightsheet reads 1."
    )
    name: str = Field("simulated", min_length=1, description="Rig name, shown in the GUI title.")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="The camera.")
    daq: DaqConfig = Field(
        default_factory=DaqConfig,
        description="The DAQ board that drives piezo, galvos, laser blanking and camera trigger.",
    )
    scanning: ScanningConfig = Field(
        default_factory=ScanningConfig, description="How volumes are swept."
    )
    trigger: TriggerConfig = Field(
        default_factory=TriggerConfig,
        description="Start signal exchanged with another device over a serial port.",
    )
    saving: SavingConfig = Field(
        default_factory=SavingConfig, description="Files written by acquisitions."
    )
    buffers: BuffersConfig = Field(
        default_factory=BuffersConfig, description="Shared-memory buffers between processes."
    )
    viewer: ViewerConfig = Field(default_factory=ViewerConfig, description="The live preview.")
    logging: LoggingConfig = Field(
        default_factory=LoggingConfig, description="Per-process log files."
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_other_versions_first(cls, data: Any) -> Any:
        # A file of another layout would produce a page of misleading key errors; say only this.
        if isinstance(data, dict):
            version = data.get("schema_version", SCHEMA_VERSION)
            if (
                isinstance(version, int)
                and not isinstance(version, bool)
                and version not in SUPPORTED_SCHEMA_VERSIONS
            ):
                raise field_error("schema_version", _unsupported_version_message(version))
        return data

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, version: int) -> int:
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise field_error("", _unsupported_version_message(version))
        return version

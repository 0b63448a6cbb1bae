"""The ``camera`` section: the device, its exposure, binning, ROI and trigger mode.

``sensor_width``/``sensor_height`` describe the simulated camera; a real camera's own sensor size
replaces them when it is opened, so for real backends the ROI is checked against the camera, not
here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lightsheet.config.base import ConfigModel
from lightsheet.config.pydantic_issues import field_error


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
    exposure_delay_ms: float = Field(
        0.0,
        ge=0,
        le=10000,
        description="How late the simulated camera starts each exposure after its trigger (ms); "
        "above 0 the run is out of sync on purpose, to test the timing report.",
    )


CameraBackend = Literal["simulated", "genicam", "dcam", "andor3", "pco", "pvcam"]


class GenicamConfig(ConfigModel):
    pixel_format: Literal["Mono8", "Mono12", "Mono16"] = Field(
        "Mono16",
        description="Pixel format the camera sends; frames are stored as 16-bit counts either way.",
    )
    trigger_source: Literal["Line0", "Line1", "Line2", "Line3", "Software"] = Field(
        "Line0",
        description="Input that starts a frame when trigger_mode is external: the camera's line "
        "wired to the DAQ's camera trigger, or Software (frames only when software fires one).",
    )
    packet_size: int = Field(
        0,
        ge=0,
        le=65000,
        description="GigE Vision stream packet size in bytes; 0 = negotiated by Aravis (jumbo "
        "frames need an MTU of 9000 on the network card).",
    )


class CameraConfig(ConfigModel):
    backend: CameraBackend = Field(
        "simulated",
        description="Camera driver: simulated (renders beads, no hardware), genicam (GigE Vision "
        "and USB3 Vision cameras through Aravis), dcam (Hamamatsu), andor3 (Andor SDK3), pco or "
        "pvcam (Photometrics), the last four through pylablib.",
    )
    device: str = Field(
        "",
        description="Which camera: a device id, serial number or index, or for GigE Vision its "
        "address (e.g. 192.168.1.20); empty = the only camera found. Ignored by simulated.",
    )
    exposure_ms: float = Field(
        10.0, ge=0.01, le=10000, description="Exposure time of each frame in milliseconds."
    )
    binning: Literal[1, 2, 4] = Field(1, description="Pixels combined along each sensor axis.")
    sensor_width: int = Field(
        1024,
        ge=16,
        le=8192,
        description="Sensor width in pixels; a real camera's own size replaces it when opened.",
    )
    sensor_height: int = Field(
        1024,
        ge=16,
        le=8192,
        description="Sensor height in pixels; a real camera's own size replaces it when opened.",
    )
    roi: RoiConfig = Field(
        default_factory=RoiConfig,
        description="Region of the sensor that is read out, in unbinned sensor pixels.",
    )
    trigger_mode: Literal["internal", "external"] = Field(
        "external",
        description="internal: the camera free-runs; external: the DAQ's camera trigger "
        "starts every frame.",
    )
    trigger_edge: Literal["rising", "falling"] = Field(
        "rising", description="Edge of the trigger pulse that starts a frame (external mode)."
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
    genicam: GenicamConfig = Field(
        default_factory=GenicamConfig, description="Settings of GenICam cameras (genicam)."
    )

    @model_validator(mode="after")
    def _roi_fits_sensor(self) -> CameraConfig:
        if self.backend != "simulated":
            return self  # the real sensor is known once the camera is open; checked there
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

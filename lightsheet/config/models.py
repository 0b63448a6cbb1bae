"""The rig configuration: one pydantic model per YAML section, assembled here.

Every field has a default describing the simulated rig, so an empty file is a working config,
and a description, from which the annotated default file (config/simulated.yaml) is written.
Each section lives in its own module (``camera_section``, ``daq_section``, ``scanning_section``,
``run_sections``); they are re-exported here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from lightsheet.config.base import (
    BYTES_PER_MB,
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    ConfigModel,
)
from lightsheet.config.camera_section import (
    CameraConfig,
    CameraSimulationConfig,
    GenicamConfig,
    RoiConfig,
)
from lightsheet.config.daq_section import (
    AnalogOutput,
    ChannelsConfig,
    DaqConfig,
    DaqSimulationConfig,
    PiezoReadbackConfig,
)
from lightsheet.config.processing_section import ProcessingConfig
from lightsheet.config.pydantic_issues import field_error
from lightsheet.config.run_sections import (
    BuffersConfig,
    LoggingConfig,
    SavingConfig,
    TriggerConfig,
    ViewerConfig,
)
from lightsheet.config.scanning_section import (
    CalibrationConfig,
    CalibrationPoint,
    ScanningConfig,
)

__all__ = [
    "BYTES_PER_MB",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "AnalogOutput",
    "BuffersConfig",
    "CalibrationConfig",
    "CalibrationPoint",
    "CameraConfig",
    "CameraSimulationConfig",
    "ChannelsConfig",
    "ConfigModel",
    "DaqConfig",
    "DaqSimulationConfig",
    "GenicamConfig",
    "LoggingConfig",
    "PiezoReadbackConfig",
    "ProcessingConfig",
    "RigConfig",
    "RoiConfig",
    "SavingConfig",
    "ScanningConfig",
    "TriggerConfig",
    "ViewerConfig",
]


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
    processing: ProcessingConfig = Field(
        default_factory=ProcessingConfig,
        description="A live image processor while previewing and acquiring.",
    )
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

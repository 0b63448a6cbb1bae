"""Rig configuration: pydantic models, and YAML that keeps the operator's comments.

Load with ``load_config``; every problem is a ``ConfigError`` listing ``FILE:LINE: key: message``.
"""

from lightsheet.config.document_edit import update_document
from lightsheet.config.errors import ConfigError, ConfigIssue
from lightsheet.config.models import (
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    AnalogOutput,
    BuffersConfig,
    CalibrationConfig,
    CalibrationPoint,
    CameraConfig,
    CameraSimulationConfig,
    ChannelsConfig,
    DaqConfig,
    DaqSimulationConfig,
    GenicamConfig,
    LoggingConfig,
    PiezoReadbackConfig,
    ProcessingConfig,
    RigConfig,
    RoiConfig,
    SavingConfig,
    ScanningConfig,
    TriggerConfig,
    ViewerConfig,
)
from lightsheet.config.pydantic_issues import issues_from_validation_error
from lightsheet.config.yaml_io import (
    document_text,
    init_config,
    load_config,
    load_document,
    parse_config_text,
    parse_document_text,
    save_document,
)
from lightsheet.config.yaml_render import default_config_text, dump_config

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "AnalogOutput",
    "BuffersConfig",
    "CalibrationConfig",
    "CalibrationPoint",
    "CameraConfig",
    "CameraSimulationConfig",
    "ChannelsConfig",
    "ConfigError",
    "ConfigIssue",
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
    "default_config_text",
    "document_text",
    "dump_config",
    "init_config",
    "issues_from_validation_error",
    "load_config",
    "load_document",
    "parse_config_text",
    "parse_document_text",
    "save_document",
    "update_document",
]

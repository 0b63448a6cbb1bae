"""The ``processing`` section: a live image processor while previewing and acquiring."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lightsheet.config.base import ConfigModel
from lightsheet.config.pydantic_issues import field_error

BUILTIN_PROCESSORS = ("background", "flatfield", "mean", "max-projection", "focus")


class ProcessingConfig(ConfigModel):
    name: str | None = Field(
        None,
        description="Live processor: background, flatfield, mean, max-projection, focus, or "
        "your own class as package.module:Class or path/to/file.py:Class; null = none.",
    )
    options: dict[str, bool | int | float | str] = Field(
        default_factory=dict,
        description="The processor's settings by name, e.g. {frames: 8} for mean.",
    )
    multi_core: bool = Field(
        True,
        description="Run the processor in a process of its own (another core); false: in a "
        "thread of the main process. Both give the same results.",
    )
    shared_memory: bool = Field(
        False,
        description="Return results through shared memory, read latest-only (fast for large "
        "images); false: through a queue that drops its oldest result when the display is slow.",
    )
    save: bool = Field(
        False,
        description="Also save every result of a run into its dataset.h5 as /processed/<name>, "
        "with the frame ids each came from; frames not processed are recorded as gaps.",
    )
    on_error: Literal["off", "restart"] = Field(
        "off",
        description="When the processor raises: off switches it off until new settings; "
        "restart rebuilds it as it was set, at most max_restarts times.",
    )
    max_restarts: int = Field(3, ge=0, le=1000, description="Rebuilds allowed by restart.")
    max_result_mb: float | None = Field(
        None,
        gt=0,
        description="Largest result that fits a shared-memory result slot (MB); null = a whole "
        "frame of 4-byte pixels.",
    )
    queue_size: int = Field(
        8, ge=1, le=1000, description="Results waiting for the display before the oldest goes."
    )

    @field_validator("name")
    @classmethod
    def _processor_name(cls, name: str | None) -> str | None:
        if name is None:
            return None
        name = name.strip()
        if not name:
            return None
        if name not in BUILTIN_PROCESSORS and ":" not in name and "." not in name:
            raise field_error(
                "",
                f"{name!r} is not a built-in processor ({', '.join(BUILTIN_PROCESSORS)}) nor a "
                "class named as package.module:Class or path/to/file.py:Class",
            )
        return name

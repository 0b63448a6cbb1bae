"""The ``trigger``, ``saving``, ``buffers``, ``viewer`` and ``logging`` sections."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lightsheet.config.base import BYTES_PER_MB, ConfigModel
from lightsheet.config.pydantic_issues import field_error


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


PROCESSED_CHUNK_MB = 256.0


class SavingConfig(ConfigModel):
    chunk_ram_mb: float = Field(
        2048.0,
        gt=0,
        description="Size budget of one chunk file (MB); sets volumes per chunk, at least 1. "
        "Each chunk costs the saver one fsync: larger chunks save time at high rates. A saver "
        "that dies loses at most the volume it was writing (the rest is salvaged). Processed "
        "results wait in memory for their chunk, so their chunks stay at most 256 MB.",
    )
    chunk_seconds: float = Field(
        1.0,
        gt=0,
        description="A chunk file is completed once its first volume is this old (seconds), "
        "so a crash loses at most this long of a run, or one volume when that takes longer.",
    )
    compression: Literal["none", "blosc-lz4", "blosc-zstd"] = Field(
        "none",
        description="Compression of the saved frames: Blosc2 with bit shuffle on every core "
        "(LZ4: fast, Zstd: smaller); readers need hdf5plugin, which lightsheet installs.",
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

    def processed_chunk_bytes(self) -> int:
        """The budget of a chunk of processed results: the frames' budget, at most
        ``PROCESSED_CHUNK_MB``. The results wait in memory for their chunk, the frames do not
        (they are written from the frame ring as they come)."""
        return int(min(self.chunk_ram_mb, PROCESSED_CHUNK_MB) * BYTES_PER_MB)


class BuffersConfig(ConfigModel):
    frame_ring_mb: float = Field(
        640.0,
        gt=0,
        description="Shared memory for frames from the camera until they are saved (MB): the "
        "saver writes planes straight from it, so it is the run's main buffer.",
    )
    volume_ring_mb: float = Field(
        512.0,
        gt=0,
        description="Shared memory for volumes between dispatcher and saver (MB): planes that "
        "are copied (dark subtracted, or a frame ring too full) are put in it; its slot count "
        "is how far the dispatcher and the preview may run ahead of a lagging saver.",
    )
    preview_hz: float = Field(30.0, ge=1, le=120, description="Preview updates per second.")


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

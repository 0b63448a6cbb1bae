"""What a config means for one scan mode: planes, frame shape, rates, z positions, ring sizes.

Pure functions of the config (and of a checked waveform set where the scan decides the timing),
so the pipeline, the modes and the runs all get the same numbers from one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lightsheet.app.scan_plan import scan_waveforms
from lightsheet.config import RigConfig
from lightsheet.runtime.ring import Ring
from lightsheet.scanning.waveforms import WaveformSet

MB = 1024 * 1024
PIXEL_DTYPE = "<u2"
PIXEL_BYTES = 2


def frame_shape(config: RigConfig) -> tuple[int, int]:
    """(height, width) of every frame: the ROI after binning (the one source of frame sizes)."""
    return config.camera.frame_shape


def imaged_planes(config: RigConfig, mode: str) -> int:
    """Frames per volume: the planes of the ramp that are not skipped, or 1 when planar."""
    if mode == "planar":
        return 1
    scanning = config.scanning
    return scanning.n_planes - scanning.skip_planes_start - scanning.skip_planes_end


def free_running_fps(config: RigConfig) -> float:
    camera = config.camera
    return 1000.0 / (camera.exposure_ms + camera.readout_ms)


def frame_rate_hz(config: RigConfig, mode: str) -> float:
    """Frames per second averaged over a period (the flyback takes none) or the camera's own."""
    if config.camera.trigger_mode == "external":
        ws = scan_waveforms(config, mode)
        return float(ws.frames_per_period / ws.period_s())
    return free_running_fps(config)


def volume_rate_hz(config: RigConfig, mode: str) -> float:
    return frame_rate_hz(config, mode) / imaged_planes(config, mode)


def volumes_for(duration_s: float, volume_rate: float) -> int:
    """Whole volumes that fill ``duration_s``; a rate a hair off its nominal value (whole
    samples per period) must not add a volume."""
    return max(1, math.ceil(duration_s * volume_rate - 1e-6))


def z_step_um(config: RigConfig, mode: str, ws: WaveformSet) -> float:
    """Plane spacing as scanned (external trigger) or as configured (free-running camera)."""
    if config.camera.trigger_mode == "external":
        z = np.asarray(ws.plane_z_um)
    else:
        z = np.asarray(config.scanning.imaged_z_um(mode))
    return float(abs(np.diff(z).mean())) if len(z) > 1 else 1.0


def chunk_bytes(config: RigConfig, mode: str) -> int:
    """The largest chunk file a run writes (uncompressed): what the disk must hold before it."""
    height, width = frame_shape(config)
    volume = imaged_planes(config, mode) * height * width * PIXEL_BYTES
    return config.saving.volumes_per_chunk(volume) * volume


def planned_run_bytes(
    config: RigConfig, mode: str, volumes: int | None, duration_s: float | None
) -> int:
    """What a run of ``volumes`` (or ``duration_s``) writes at most (uncompressed pixels)."""
    height, width = frame_shape(config)
    volume = imaged_planes(config, mode) * height * width * PIXEL_BYTES
    if volumes is None:
        volumes = volumes_for(duration_s or 0.0, volume_rate_hz(config, mode))
    return volumes * volume


@dataclass(frozen=True)
class RingGeometry:
    """What the shared-memory rings are sized for; a change needs new rings (a restart)."""

    sensor_pixels: int
    frame_slots: int
    volume_pixels: int  # sized for the volumetric scan: planar and back needs no new rings
    volume_slots: int
    planes: int

    @classmethod
    def of(cls, config: RigConfig) -> RingGeometry:
        camera = config.camera
        sensor_pixels = camera.sensor_width * camera.sensor_height
        height, width = frame_shape(config)
        planes = imaged_planes(config, "volumetric")
        volume_pixels = planes * height * width
        return cls(
            sensor_pixels=sensor_pixels,
            frame_slots=Ring.slots_for_budget(
                sensor_pixels * PIXEL_BYTES, int(config.buffers.frame_ring_mb * MB)
            ),
            volume_pixels=volume_pixels,
            volume_slots=Ring.slots_for_budget(
                volume_pixels * PIXEL_BYTES, int(config.buffers.volume_ring_mb * MB)
            ),
            planes=planes,
        )

    def describe(self) -> str:
        return (
            f"frame ring {self.frame_slots} x {self.sensor_pixels * PIXEL_BYTES / MB:.1f} MB, "
            f"volume ring {self.volume_slots} x {self.volume_pixels * PIXEL_BYTES / MB:.1f} MB"
        )

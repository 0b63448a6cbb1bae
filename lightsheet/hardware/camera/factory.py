"""Build and open the camera a config section describes, with its settings applied.

The config is duck-typed (``camera.backend``, ``exposure_ms``, ``binning``, ``roi``, ...), so the
hardware layer needs nothing from ``lightsheet.config``. New SDK backends register in
``_BACKENDS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lightsheet.hardware.camera.protocol import Camera, CameraError, Roi
from lightsheet.hardware.camera.simulated import SimulatedCamera, TriggerSource, ZSource

_log = logging.getLogger(__name__)

_SIMULATED_OPTIONS = (
    "seed",
    "dark_offset",
    "read_noise",
    "photons_per_count",
    "brightness",
    "n_beads",
    "stamp_frame_id",
    "drop_frame_ids",
    "exposure_delay_ms",
)


def _simulated(
    cfg: Any,
    z_positions_um: Sequence[float],
    z_source: ZSource | None,
    trigger_source: TriggerSource | None,
    daq_link: str | None = None,
    calibration: tuple[float, float] | None = None,
) -> Camera:
    built: list[Camera] = []
    if daq_link is not None and trigger_source is None:
        # Coupled to the simulated board: trigger edges and the sheet's z come from its link.
        from lightsheet.hardware.daq.simulated_camera_side import simulated_camera_sources

        trigger_source, z_source = simulated_camera_sources(
            daq_link, calibration, lambda: built[0].exposure_ms
        )
    options = {}
    simulated = getattr(cfg, "simulated", None)
    if simulated is not None:
        options = {
            name: getattr(simulated, name)
            for name in _SIMULATED_OPTIONS
            if getattr(simulated, name, None) is not None
        }
    camera = SimulatedCamera(
        z_positions_um,
        sensor_width=int(cfg.sensor_width),
        sensor_height=int(cfg.sensor_height),
        pixel_size_um=float(cfg.pixel_size_um),
        readout_ms=float(cfg.readout_ms),
        z_source=z_source,
        trigger_source=trigger_source,
        **options,
    )
    built.append(camera)
    return camera


_BACKENDS: dict[str, Callable[..., Camera]] = {"simulated": _simulated}

#: ``render(z_um, (height, width), pixel_um, (y0_um, x0_um)) -> float32 image`` of a known sample.
SampleRenderer = Callable[[float, tuple[int, int], float, tuple[float, float]], np.ndarray]


def sample_reference(camera_cfg: Any, z_positions_um: Sequence[float]) -> SampleRenderer | None:
    """The sample a camera config images, when it is known: the simulated camera's seeded
    phantom (the same one a run with ``camera_cfg`` and ``z_positions_um`` imaged), or None
    for a real camera. Nothing is opened."""
    if str(getattr(camera_cfg, "backend", None)) != "simulated":
        return None
    camera = _simulated(camera_cfg, z_positions_um, None, None)
    assert isinstance(camera, SimulatedCamera)
    return camera.sample_image


def open_camera(
    camera_cfg: Any,
    z_positions_um: Sequence[float],
    z_source: ZSource | None = None,
    trigger_source: TriggerSource | None = None,
    daq_link: str | None = None,
    calibration: tuple[float, float] | None = None,
) -> Camera:
    """An open camera with trigger mode, binning, ROI and exposure from ``camera_cfg`` applied.

    ``z_source`` and ``trigger_source`` couple a simulated camera to the simulated scanner, or
    ``daq_link`` (the simulated board's link) and the z-galvo ``calibration`` build them; real
    cameras see the scanner through their trigger cable and ignore all four. Values the camera
    had to clip are logged as warnings; the camera is closed again if any setting is refused.
    """
    backend = getattr(camera_cfg, "backend", None)
    factory = _BACKENDS.get(str(backend))
    if factory is None:
        raise CameraError(
            f"unknown camera backend {backend!r}; available: {', '.join(sorted(_BACKENDS))}"
        )
    camera = factory(camera_cfg, z_positions_um, z_source, trigger_source, daq_link, calibration)
    camera.open()
    try:
        apply_settings(camera, camera_cfg)
    except BaseException:
        camera.close()
        raise
    return camera


def apply_settings(camera: Camera, camera_cfg: Any) -> None:
    """Apply trigger mode, binning, ROI and exposure (in that order: the ROI depends on binning)."""
    camera.set_trigger_mode(camera_cfg.trigger_mode)
    camera.set_binning(camera_cfg.binning)
    requested = roi_from_config(camera, getattr(camera_cfg, "roi", None))
    applied = camera.set_roi(*requested)
    if applied != requested:
        _log.warning("ROI %s clipped to %s", tuple(requested), tuple(applied))
    exposure = camera.set_exposure_ms(camera_cfg.exposure_ms)
    if exposure != camera_cfg.exposure_ms:
        _log.warning("exposure %s ms clipped to %s ms", camera_cfg.exposure_ms, exposure)


def roi_from_config(camera: Camera, roi_cfg: Any) -> Roi:
    """The ROI a config section asks for, before clipping: a missing section means the whole
    sensor, a missing (None or 0) width or height means up to the sensor's edge."""
    sensor_h, sensor_w = camera.sensor_shape
    x = int(getattr(roi_cfg, "x", 0) or 0)
    y = int(getattr(roi_cfg, "y", 0) or 0)
    width = getattr(roi_cfg, "width", None) or sensor_w - x
    height = getattr(roi_cfg, "height", None) or sensor_h - y
    return Roi(x, y, int(width), int(height))

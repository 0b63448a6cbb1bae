"""Build and open the camera a config section describes, with its settings applied.

The config is duck-typed (``camera.backend``, ``exposure_ms``, ``binning``, ``roi``, ...), so the
hardware layer needs nothing from ``lightsheet.config``. Real backends (``backends.REAL_BACKENDS``)
are imported only when a config asks for one, so a missing SDK never stops the simulated rig.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lightsheet.hardware.camera.backends import REAL_BACKENDS, backend_info, import_backend_module
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


DEFAULT_BUFFER_FRAMES = 16


def build_camera(camera_cfg: Any, buffer_frames: int | None = None) -> Camera:
    """A real camera (not yet opened) of ``camera_cfg.backend``; BackendUnavailable says why not.

    ``buffer_frames`` sizes the driver's own frame buffer (Aravis stream buffers for
    ``read_into``, the SDK's ring for pylablib cameras).
    """
    name = backend_info(str(getattr(camera_cfg, "backend", None))).name
    if name not in REAL_BACKENDS:
        raise CameraError(f"{name} is not a real camera backend")
    module = import_backend_module(name)
    return module.from_config(camera_cfg, buffer_frames or DEFAULT_BUFFER_FRAMES)


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
    buffer_frames: int | None = None,
) -> Camera:
    """An open camera with trigger mode, binning, ROI and exposure from ``camera_cfg`` applied.

    ``z_source`` and ``trigger_source`` couple a simulated camera to the simulated scanner, or
    ``daq_link`` (the simulated board's link) and the z-galvo ``calibration`` build them; real
    cameras see the scanner through their trigger cable and ignore all four (and use
    ``buffer_frames``, see ``build_camera``). Values the camera had to clip are logged as
    warnings; the camera is closed again if any setting is refused.
    """
    backend = backend_info(str(getattr(camera_cfg, "backend", None))).name
    if backend == "simulated":
        camera = _simulated(
            camera_cfg, z_positions_um, z_source, trigger_source, daq_link, calibration
        )
    else:
        camera = build_camera(camera_cfg, buffer_frames)
    camera.open()
    try:
        if backend != "simulated":
            check_roi_fits(camera, getattr(camera_cfg, "roi", None))
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


def check_roi_fits(camera: Camera, roi_cfg: Any) -> None:
    """Refuse an explicit ROI that leaves the camera's own sensor: a real camera's sensor is only
    known once it is open, so the config could not check it (a simulated one's it did)."""
    sensor_h, sensor_w = camera.sensor_shape
    for axis, extent, sensor in (("x", "width", sensor_w), ("y", "height", sensor_h)):
        start = int(getattr(roi_cfg, axis, 0) or 0)
        size = getattr(roi_cfg, extent, None)
        end = start + int(size) if size else start + 1
        if end > sensor:
            raise CameraError(
                f"camera.roi: {axis} + {extent} = {end} does not fit the {sensor_w} x {sensor_h} "
                f"sensor of {getattr(camera, 'label', type(camera).__name__)}"
            )


def with_camera_sensor(camera_cfg: Any) -> Any:
    """``camera_cfg`` (a validated config section) with ``sensor_width``/``sensor_height`` set to
    the real camera's own sensor, read by opening and closing the camera; the ROI is checked
    against it. The simulated camera's section comes back unchanged.

    Call it in the main process before shared memory is sized: an absent, busy or unloadable
    camera then stops everything with one clear CameraError before a run (exit 2), instead of a
    camera process that fails to start.
    """
    if getattr(camera_cfg, "backend", "simulated") == "simulated":
        return camera_cfg
    camera = build_camera(camera_cfg)
    camera.open()
    try:
        check_roi_fits(camera, getattr(camera_cfg, "roi", None))
        height, width = camera.sensor_shape
    finally:
        camera.close()
    try:
        return camera_cfg.updated(sensor_width=width, sensor_height=height)
    except ValueError as exc:  # pydantic's ValidationError: a sensor beyond the config's limits
        first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise CameraError(
            f"camera: the {width} x {height} sensor of {camera.label} is refused: {first}"
        ) from None

"""What differs between the scientific cameras pylablib drives behind its common camera interface.

pylablib gives Hamamatsu DCAM, Andor SDK3, PCO and Photometrics PVCAM one interface (exposure in
seconds, ``set_roi(hstart, hend, vstart, vend, hbin, vbin)``, ``start_acquisition(nframes=)``,
``wait_for_frame``, ``read_oldest_image(return_info=True)``); a profile holds the rest: the class,
how cameras are counted and named, the trigger mode names, the exposure limits, and which frame
info fields carry the camera's own frame counter and timestamp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from lightsheet.hardware.camera.backends import BackendUnavailable


@dataclass(frozen=True)
class SdkProfile:
    name: str  # the config's backend name
    vendor: str  # what to install, in messages
    module: str  # the pylablib module
    class_name: str
    internal_modes: tuple[str, ...]  # trigger mode names tried in order for internal
    external_modes: tuple[str, ...]  # ... and for one frame per rising edge
    serial_field: str  # of get_device_info()
    model_field: str
    counter_field: str | None  # frame info field with the camera's own frame counter
    timestamp: tuple[str, Callable[[Any], float]] | None  # field, seconds per unit (when open)
    exposure_limits: Callable[[Any], tuple[float, float]]  # seconds
    list_ids: Callable[[ModuleType], list[Any]]  # what to pass to the class to open each camera
    open_kwargs: Callable[[Any], dict[str, Any]]
    falling_edge: Callable[[Any, bool], None] | None = None  # choose the edge, if the SDK can
    prepare: Callable[[Any], None] | None = None  # once after opening


def _attribute_limits(name: str) -> Callable[[Any], tuple[float, float]]:
    def limits(cam: Any) -> tuple[float, float]:
        attribute = cam.get_attribute(name)
        update = getattr(attribute, "update_limits", None)
        if callable(update):
            update()
        return float(attribute.min), float(attribute.max)

    return limits


def _pvcam_limits(cam: Any) -> tuple[float, float]:
    low, high = _attribute_limits("EXPOSURE_TIME")(cam)
    resolution = cam._get_exp_res()  # seconds per EXPOSURE_TIME unit (set to the finest on use)
    return low * resolution, high * resolution


def _pco_limits(cam: Any) -> tuple[float, float]:
    description = "sensor/strDescription/"
    low_ns = cam.v[description + "dwMinExposureDESC"]
    high_ms = cam.v[description + "dwMaxExposureDESC"]
    return low_ns * 1e-9, high_ms * 1e-3


def _dcam_edge(cam: Any, falling: bool) -> None:
    cam.setup_ext_trigger(invert=falling)


def _andor_prepare(cam: Any) -> None:
    cam.enable_metadata(True)  # frame timestamps come with the metadata


def _indices(count: Callable[[ModuleType], int]) -> Callable[[ModuleType], list[Any]]:
    return lambda module: list(range(count(module)))


PROFILES = {
    "dcam": SdkProfile(
        name="dcam",
        vendor="Hamamatsu DCAM-API",
        module="pylablib.devices.DCAM",
        class_name="DCAMCamera",
        internal_modes=("int",),
        external_modes=("ext",),
        serial_field="serial_number",
        model_field="model",
        counter_field="framestamp",
        timestamp=("timestamp_us", lambda cam: 1e-6),
        exposure_limits=_attribute_limits("EXPOSURE TIME"),
        list_ids=_indices(lambda m: m.get_cameras_number()),
        open_kwargs=lambda idx: {"idx": idx},
        falling_edge=_dcam_edge,
    ),
    "andor3": SdkProfile(
        name="andor3",
        vendor="Andor SDK3",
        module="pylablib.devices.Andor",
        class_name="AndorSDK3Camera",
        internal_modes=("int",),
        external_modes=("ext",),
        serial_field="serial_number",
        model_field="camera_model",
        counter_field=None,
        timestamp=("timestamp_dev", lambda cam: 1.0 / cam.cav["TimestampClockFrequency"]),
        exposure_limits=_attribute_limits("ExposureTime"),
        list_ids=_indices(lambda m: m.get_cameras_number_SDK3()),
        open_kwargs=lambda idx: {"idx": idx},
        prepare=_andor_prepare,
    ),
    "pco": SdkProfile(
        name="pco",
        vendor="PCO SDK (pco.sc2)",
        module="pylablib.devices.PCO",
        class_name="PCOSC2Camera",
        internal_modes=("int",),
        external_modes=("ext",),
        serial_field="serial_number",
        model_field="model",
        counter_field=None,
        timestamp=None,
        exposure_limits=_pco_limits,
        list_ids=_indices(lambda m: m.get_cameras_number()),
        open_kwargs=lambda idx: {"idx": idx},
    ),
    "pvcam": SdkProfile(
        name="pvcam",
        vendor="Photometrics PVCAM",
        module="pylablib.devices.Photometrics",
        class_name="PvcamCamera",
        internal_modes=("timed", "e_int"),
        external_modes=("e_rise_edge", "strobe"),
        serial_field="serial",
        model_field="product",
        counter_field="framestamp",
        timestamp=("timestamp_start_ns", lambda cam: 1e-9),
        exposure_limits=_pvcam_limits,
        list_ids=lambda m: list(m.list_cameras()),
        open_kwargs=lambda name: {"name": name},
    ),
}


def load_sdk(profile: SdkProfile) -> ModuleType:
    """pylablib's module for ``profile``; BackendUnavailable says in one line why not."""
    try:
        import pylablib  # noqa: F401
    except ImportError:
        raise BackendUnavailable(
            f"{profile.name}: pylablib is not installed (pip install pylablib)"
        ) from None
    try:
        return importlib.import_module(profile.module)
    except ImportError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendUnavailable(
            f"{profile.name}: pylablib's {profile.vendor} module cannot load here ({first})"
        ) from None


def library_unavailable(profile: SdkProfile, exc: OSError) -> BackendUnavailable:
    """The vendor library itself is missing (or pylablib refuses it on this platform)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "non-Windows" in text:
        text = "pylablib loads vendor camera libraries only on Windows"
    return BackendUnavailable(f"{profile.name}: {profile.vendor} library not loaded: {text}")

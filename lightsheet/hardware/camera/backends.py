"""Which camera backends exist, and loading one only when it is asked for.

Real backends import their SDK bindings (PyGObject and Aravis, pylablib) lazily, so lightsheet
imports and runs the simulated rig on a machine without any of them; a backend that cannot load
says why in one line (``BackendUnavailable``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lightsheet.hardware.camera.protocol import CameraError

REAL_BACKENDS = ("genicam", "dcam", "andor3", "pco", "pvcam")


class BackendUnavailable(CameraError):
    """A backend's SDK or its Python bindings are missing; the message says what to install."""


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # the module holding the backend, imported on first use
    label: str  # what the backend drives, for listings and messages


BACKENDS = {
    "simulated": BackendInfo(
        "simulated", "lightsheet.hardware.camera.simulated", "simulated camera"
    ),
    "genicam": BackendInfo(
        "genicam", "lightsheet.hardware.camera.genicam", "GigE Vision / USB3 Vision (Aravis)"
    ),
    "dcam": BackendInfo(
        "dcam", "lightsheet.hardware.camera.pylablib_cameras", "Hamamatsu DCAM (pylablib)"
    ),
    "andor3": BackendInfo(
        "andor3", "lightsheet.hardware.camera.pylablib_cameras", "Andor SDK3 (pylablib)"
    ),
    "pco": BackendInfo("pco", "lightsheet.hardware.camera.pylablib_cameras", "PCO (pylablib)"),
    "pvcam": BackendInfo(
        "pvcam", "lightsheet.hardware.camera.pylablib_cameras", "Photometrics PVCAM (pylablib)"
    ),
}


def backend_info(name: str) -> BackendInfo:
    """The registered backend ``name``; an unknown name is refused with the list of known ones."""
    info = BACKENDS.get(str(name))
    if info is None:
        raise CameraError(
            f"unknown camera backend {name!r}; available: {', '.join(sorted(BACKENDS))}"
        )
    return info


def import_backend_module(name: str):
    """Import the module of backend ``name``; an import failure becomes BackendUnavailable."""
    info = backend_info(name)
    try:
        return importlib.import_module(info.module)
    except ImportError as exc:
        raise BackendUnavailable(f"{name}: cannot load {info.module}: {exc}") from exc

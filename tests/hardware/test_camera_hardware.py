"""The camera contract on real cameras: ``pytest -m hardware`` on a rig.

One run per real backend; a backend whose SDK is missing or that sees no camera is skipped with the
reason. Which camera: ``LIGHTSHEET_<BACKEND>_DEVICE`` (e.g. ``LIGHTSHEET_GENICAM_DEVICE=
192.168.1.20``, ``LIGHTSHEET_DCAM_DEVICE=1``), else the only one found. GigE Vision cameras are
never searched for: name them by address.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from lightsheet.hardware.camera.backends import REAL_BACKENDS
from lightsheet.hardware.camera.factory import build_camera
from lightsheet.hardware.camera.protocol import Camera, CameraError
from lightsheet.testing.camera_contract import CameraContract

pytestmark = pytest.mark.hardware


def hardware_config(backend: str) -> SimpleNamespace:
    return SimpleNamespace(
        backend=backend,
        device=os.environ.get(f"LIGHTSHEET_{backend.upper()}_DEVICE", ""),
        trigger_edge="rising",
        readout_ms=0.0,
        genicam=SimpleNamespace(
            pixel_format=os.environ.get("LIGHTSHEET_GENICAM_PIXEL_FORMAT", "Mono16"),
            trigger_source="Line0",
            packet_size=0,
        ),
    )


@pytest.mark.parametrize("backend", REAL_BACKENDS)
class TestRealCamera(CameraContract):
    """The whole contract on each real camera found; skipped with the reason where none is."""

    @pytest.fixture
    def camera(self, request: pytest.FixtureRequest, backend: str) -> Iterator[Camera]:
        if "hardware" not in (request.config.getoption("markexpr") or ""):
            pytest.skip("the contract on real cameras runs with `pytest -m hardware` on a rig")
        made = build_camera_or_skip(backend)
        try:
            made.open()
        except CameraError as exc:
            pytest.skip(f"no {backend} camera to test: {exc}")
        with made:
            yield made
        assert not made.is_open


def build_camera_or_skip(backend: str) -> Camera:
    try:
        return build_camera(hardware_config(backend))
    except CameraError as exc:
        pytest.skip(f"no {backend} camera to test: {exc}")

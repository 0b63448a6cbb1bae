"""Every camera each installed backend can see, for ``lightsheet cameras``.

GenICam follows the network rule (see ``aravis``): USB3 Vision cameras and Aravis's in-process Fake
camera are local; GigE Vision cameras are opened only at the addresses given, plus those that
answer a discovery sent through the interfaces named (``gvcp_discovery``). The pylablib backends
ask their SDK how many cameras there are and open each to read its model, serial and sensor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lightsheet.hardware.camera.backends import REAL_BACKENDS, BackendUnavailable
from lightsheet.hardware.camera.protocol import CameraError


@dataclass(frozen=True)
class Listed:
    """One line of the listing: a camera, or why a backend or a named camera has none."""

    backend: str
    text: str
    sensor: tuple[int, int] | None = None  # (width, height)
    where: str = ""
    problem: bool = False  # a camera that was asked for by name could not be opened

    def line(self) -> str:
        parts = [f"{self.backend:<8} {self.text}"]
        if self.sensor is not None:
            parts.append(f"{self.sensor[0]} x {self.sensor[1]}")
        if self.where:
            parts.append(self.where)
        return "  ".join(parts)


def list_cameras(addresses: Sequence[str] = (), discover_on: Sequence[str] = ()) -> list[Listed]:
    """The listing, genicam first, then the pylablib backends."""
    lines = list(_genicam(addresses, discover_on))
    for backend in REAL_BACKENDS:
        if backend != "genicam":
            lines.extend(_pylablib(backend))
    return lines


def _genicam(addresses: Sequence[str], discover_on: Sequence[str]) -> Iterator[Listed]:
    from lightsheet.hardware.camera import aravis, gvcp_discovery

    try:
        aravis.load_aravis()
    except BackendUnavailable as exc:
        yield Listed("genicam", f"unavailable: {_reason(exc, 'genicam')}")
        return
    wanted = list(dict.fromkeys(a.strip() for a in addresses if a.strip()))
    if discover_on:
        found = gvcp_discovery.discover(discover_on)
        wanted += [d.address for d in found if d.address not in wanted]
    local = aravis.local_devices(include_fake=any(a.startswith("Fake") for a in wanted))
    seen = 0
    for entry in local:
        if entry.protocol == "Fake" and entry.device_id not in wanted:
            continue
        seen += 1
        yield _genicam_camera(entry.device_id, entry.device_id, named=entry.device_id in wanted)
    for address in wanted:
        if aravis.ipv4_address(address) is not None:
            seen += 1
            yield _genicam_camera(address, f"at {address}", named=True)
        elif not any(address == e.device_id for e in local):
            seen += 1
            yield Listed("genicam", f"{address}: no such local device", problem=True)
    if not seen:
        yield Listed(
            "genicam",
            "no USB3 Vision camera; GigE Vision cameras are listed with --address ADDR or "
            "--discover --interface NAME (lightsheet never broadcasts unasked)",
        )


def _genicam_camera(device: str, where: str, named: bool) -> Listed:
    from lightsheet.hardware.camera import aravis

    try:
        opened = aravis.open_device(device)
    except CameraError as exc:
        return Listed("genicam", _reason(exc, "genicam"), where=where, problem=named)
    try:
        width, height = opened.camera.get_sensor_size()
        label = opened.label.split(" at ")[0]
    finally:
        aravis.release_device(opened)
    return Listed("genicam", label, (int(width), int(height)), where)


def _pylablib(backend: str) -> Iterator[Listed]:
    from lightsheet.hardware.camera.pylablib_cameras import PylablibCamera
    from lightsheet.hardware.camera.pylablib_profiles import (
        PROFILES,
        library_unavailable,
        load_sdk,
    )

    profile = PROFILES[backend]
    try:
        module = load_sdk(profile)
        try:
            ids = profile.list_ids(module)
        except OSError as exc:
            raise library_unavailable(profile, exc) from None
    except BackendUnavailable as exc:
        yield Listed(backend, f"unavailable: {_reason(exc, backend)}")
        return
    except Exception as exc:  # the SDK's own error, e.g. no driver running
        yield Listed(backend, f"unavailable: {exc}")
        return
    if not ids:
        yield Listed(backend, "no camera found")
    for camera_id in ids:
        camera = PylablibCamera(profile, str(camera_id))
        try:
            with camera:
                height, width = camera.sensor_shape
                yield Listed(backend, camera.label, (width, height), f"device {camera_id}")
        except CameraError as exc:
            yield Listed(backend, _reason(exc, backend), where=f"device {camera_id}")


def _reason(exc: Exception, backend: str) -> str:
    """The message without its leading "backend: ", which the line shows already."""
    text = str(exc)
    return text[len(backend) + 2 :] if text.startswith(f"{backend}: ") else text

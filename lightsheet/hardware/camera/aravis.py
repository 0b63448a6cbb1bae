"""Aravis through PyGObject: loading it, finding and opening GenICam devices by the network rule.

The network rule: lightsheet never lets Aravis broadcast. Aravis's own GigE Vision interface
discovers devices by sending a broadcast out of every network interface, so it is disabled as soon
as Aravis loads; a GigE Vision camera is opened by its address (a unicast conversation with that
address only), and `lightsheet cameras --discover --interface NAME` (``gvcp_discovery``) finds
cameras only on the interfaces named. USB3 Vision enumeration stays on this machine; Aravis's
in-process ``Fake`` camera is enabled only when it is asked for by name.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import socket
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from lightsheet.hardware.camera.backends import BackendUnavailable
from lightsheet.hardware.camera.protocol import CameraError

_log = logging.getLogger(__name__)
GVCP_PORT = 3956
FAKE_PREFIX = "Fake"
_loaded: dict[str, ModuleType] = {}

INSTALL_HINT = (
    "install Aravis and PyGObject (Debian: apt-get install gir1.2-aravis-0.8; "
    "pip install 'PyGObject<3.51'; `make test` does both)"
)


def load_aravis() -> ModuleType:
    """The ``Aravis`` GObject module, with its GigE Vision discovery disabled; loaded once."""
    if "Aravis" in _loaded:
        return _loaded["Aravis"]
    try:
        import gi
    except ImportError:
        raise BackendUnavailable(f"genicam: PyGObject is not installed; {INSTALL_HINT}") from None
    try:
        gi.require_version("Aravis", "0.8")
        from gi.repository import Aravis, Gio
    except (ValueError, ImportError) as exc:
        raise BackendUnavailable(
            f"genicam: Aravis 0.8 is not available ({exc}); {INSTALL_HINT}"
        ) from None
    Aravis.disable_interface("GigEVision")  # never discovery broadcasts; see the module docstring
    _loaded["Aravis"] = Aravis
    _loaded["Gio"] = Gio
    return Aravis


def error_text(exc: BaseException) -> str:
    """The readable part of a GLib error (Aravis reports everything through them)."""
    message = getattr(exc, "message", None)
    return str(message if message else exc)


def ipv4_address(text: str) -> str | None:
    """``text`` as a dotted IPv4 address, or None when it is something else (a name, a serial)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return str(address) if address.version == 4 else None


def local_address_towards(address: str) -> str:
    """The address of this machine's interface that routes to ``address`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((address, GVCP_PORT))
        except OSError as exc:
            raise CameraError(f"genicam: no route to {address}: {exc.strerror}") from None
        return str(probe.getsockname()[0])


@dataclass(frozen=True)
class OpenedDevice:
    """An open Aravis camera and what identifies it."""

    camera: Any  # Aravis.Camera
    device: Any  # Aravis.Device (a GvDevice for GigE Vision)
    label: str  # e.g. "Aravis Fake (serial GV01) at 127.0.0.1"


def open_device(device: str) -> OpenedDevice:
    """Open the camera ``device`` names: an IPv4 address (GigE Vision), ``Fake_1`` (Aravis's
    in-process test camera), a USB3 Vision device id or serial number, or "" for the only USB3
    Vision camera present. Absent and busy cameras are refused with one clear message."""
    aravis = load_aravis()
    text = device.strip()
    address = ipv4_address(text)
    if address is not None:
        return _open_gige(aravis, address)
    if text.startswith(FAKE_PREFIX):
        aravis.enable_interface("Fake")
        return _open_by_id(aravis, text, "")
    return _open_usb(aravis, text)


def release_device(opened: OpenedDevice, reachable: bool = True) -> None:
    """Give a GigE Vision camera's control back at once (not when the object is collected), so
    the next program, or the next open in this one, gets it; an unreachable one is abandoned."""
    if not reachable:
        abandon(opened.camera, opened.device)
    elif isinstance(opened.device, load_aravis().GvDevice):
        try:
            opened.device.leave_control()
        except Exception as exc:  # the camera may be gone already
            _log.info("genicam: leaving control of %s: %s", opened.label, error_text(exc))


_abandoned: queue.SimpleQueue = queue.SimpleQueue()
_keeper: list[threading.Thread] = []


def abandon(*objects: Any) -> None:
    """Keep the objects of a camera that stopped answering alive until the process ends.

    Freeing an Aravis GigE Vision stream or device writes to the camera (stop the stream, leave
    control) and, with nobody answering, waits 2.5 s per write while holding the GIL, which
    would freeze the whole process. A daemon thread holds them instead: at exit its frame is
    never cleared, so they are never finalized, and the OS closes their sockets.
    """
    if not _keeper:
        thread = threading.Thread(target=_keep, name="aravis-abandoned", daemon=True)
        thread.start()
        _keeper.append(thread)
    _abandoned.put(objects)


def _keep() -> None:
    kept = []
    while True:
        kept.append(_abandoned.get())


def _open_gige(aravis: ModuleType, address: str) -> OpenedDevice:
    gio = _loaded["Gio"]
    local = local_address_towards(address)
    try:
        gv_device = aravis.GvDevice.new(
            gio.InetAddress.new_from_string(local), gio.InetAddress.new_from_string(address)
        )
    except Exception as exc:  # GLib.Error: timeouts, refused packets
        raise CameraError(
            f"genicam: no GigE Vision camera answers at {address} ({error_text(exc)}); check "
            "that it is powered, cabled and on this subnet"
        ) from None
    if not gv_device.is_controller():
        raise CameraError(
            f"genicam: the camera at {address} is busy: another program controls it "
            "(close that program; a crashed one releases it after its heartbeat timeout)"
        )
    camera = aravis.Camera.new_with_device(gv_device)
    return OpenedDevice(camera, gv_device, f"{_identity(camera)} at {address}")


def _open_by_id(aravis: ModuleType, device_id: str, where: str) -> OpenedDevice:
    try:
        camera = aravis.Camera.new(device_id)
    except Exception as exc:
        raise CameraError(f"genicam: cannot open {device_id!r}{where}: {error_text(exc)}") from None
    return OpenedDevice(camera, camera.get_device(), _identity(camera))


def _open_usb(aravis: ModuleType, text: str) -> OpenedDevice:
    found = [d for d in local_devices() if d.protocol != "Fake"]
    if text:
        found = [d for d in found if text in (d.device_id, d.serial, d.physical_id)]
    if len(found) == 1:
        return _open_by_id(aravis, found[0].device_id, " (USB3 Vision)")
    if not found:
        named = f"camera {text!r}" if text else "camera"
        raise CameraError(
            f"genicam: no USB3 Vision {named} found; name a GigE Vision camera by its address "
            "in camera.device (lightsheet never broadcasts to find one; `lightsheet cameras "
            "--discover --interface NAME` lists them)"
        )
    ids = ", ".join(d.device_id for d in found)
    raise CameraError(f"genicam: several cameras found ({ids}); name one in camera.device")


@dataclass(frozen=True)
class DeviceEntry:
    """One device an enabled local interface lists (never GigE Vision: that would broadcast)."""

    device_id: str
    protocol: str
    model: str
    serial: str
    physical_id: str
    address: str


def local_devices(include_fake: bool = False) -> list[DeviceEntry]:
    """Devices on this machine's USB3 Vision interface (and the in-process Fake camera)."""
    aravis = load_aravis()
    if include_fake:
        aravis.enable_interface("Fake")
    aravis.update_device_list()
    entries = []
    for index in range(aravis.get_n_devices()):
        entry = DeviceEntry(
            device_id=aravis.get_device_id(index) or "",
            protocol=aravis.get_device_protocol(index) or "",
            model=" ".join(
                filter(None, (aravis.get_device_vendor(index), aravis.get_device_model(index)))
            ),
            serial=aravis.get_device_serial_nbr(index) or "",
            physical_id=aravis.get_device_physical_id(index) or "",
            address=aravis.get_device_address(index) or "",
        )
        if include_fake or entry.protocol != "Fake":
            entries.append(entry)
    return entries


def _identity(camera: Any) -> str:
    vendor, model = camera.get_vendor_name() or "", camera.get_model_name() or ""
    serial = camera.get_device_serial_number() or "?"
    return f"{vendor} {model} (serial {serial})".strip()

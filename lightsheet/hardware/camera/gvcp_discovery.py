"""GigE Vision discovery on the network interfaces an operator names, and nowhere else.

Aravis 0.8 discovers by broadcasting out of every interface; lightsheet's network rule allows a
discovery broadcast only through interfaces named on the command line, so discovery is done here
with the GigE Vision control protocol (GVCP, UDP port 3956): one DISCOVERY_CMD per named
interface, sent to that interface's directed broadcast address (or, on an interface without
broadcast such as loopback, to its own address), and the DISCOVERY_ACKs that come back within a
bounded time are parsed for address, vendor, model and serial number. ``probe`` asks one known
address the same question by unicast. Found cameras are then opened by address.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from lightsheet.hardware.camera.protocol import CameraError

GVCP_PORT = 3956
_CMD_HEADER = struct.Struct(">BBHHH")  # key 0x42, flags, command, payload length, request id
_ACK_HEADER = struct.Struct(">HHHH")  # status, answer, payload length, ack id
_KEY = 0x42
_FLAG_ACK_REQUIRED = 0x01
_FLAG_ALLOW_BROADCAST_ACK = 0x10
_DISCOVERY_CMD, _DISCOVERY_ACK = 0x0002, 0x0003
_BOOTSTRAP_SIZE = 0xF8
_MAX_REPLIES = 256  # a bounded loop even on a flooded network


@dataclass(frozen=True)
class GigeDevice:
    """What a camera says about itself in a discovery acknowledge."""

    address: str
    vendor: str
    model: str
    serial: str
    mac: str
    interface: str  # the local interface it answered on

    @property
    def label(self) -> str:
        return f"{self.vendor} {self.model} (serial {self.serial or '?'})".strip()


def discovery_command(request_id: int) -> bytes:
    flags = _FLAG_ACK_REQUIRED | _FLAG_ALLOW_BROADCAST_ACK
    return _CMD_HEADER.pack(_KEY, flags, _DISCOVERY_CMD, 0, request_id & 0xFFFF)


def parse_acknowledge(data: bytes, interface: str) -> GigeDevice | None:
    """The device described by a DISCOVERY_ACK datagram, or None for anything else."""
    if len(data) < _ACK_HEADER.size + _BOOTSTRAP_SIZE:
        return None
    status, answer, _, _ = _ACK_HEADER.unpack_from(data)
    if status != 0 or answer != _DISCOVERY_ACK:
        return None
    bootstrap = data[_ACK_HEADER.size : _ACK_HEADER.size + _BOOTSTRAP_SIZE]
    mac = bootstrap[0x0A:0x10]
    return GigeDevice(
        address=socket.inet_ntoa(bootstrap[0x24:0x28]),
        vendor=_text(bootstrap, 0x48, 32),
        model=_text(bootstrap, 0x68, 32),
        serial=_text(bootstrap, 0xD8, 16),
        mac=":".join(f"{b:02x}" for b in mac),
        interface=interface,
    )


def _text(block: bytes, offset: int, size: int) -> str:
    return block[offset : offset + size].split(b"\0", 1)[0].decode("ascii", "replace").strip()


def interface_target(name: str) -> tuple[str, str, bool]:
    """(local address, where to send, whether that is a broadcast) for interface ``name``."""
    interfaces = psutil.net_if_addrs()
    if name not in interfaces:
        known = ", ".join(sorted(interfaces)) or "none"
        raise CameraError(f"no network interface {name!r} on this machine (it has: {known})")
    for entry in interfaces[name]:
        if entry.family == socket.AF_INET:
            if entry.broadcast and entry.broadcast != entry.address:
                return entry.address, entry.broadcast, True
            return entry.address, entry.address, False
    raise CameraError(f"network interface {name!r} has no IPv4 address")


def discover(interfaces: Sequence[str], timeout_s: float = 1.0) -> list[GigeDevice]:
    """Cameras answering a discovery sent through each named interface only."""
    if not interfaces:
        raise CameraError("discovery needs at least one interface name")
    found: dict[str, GigeDevice] = {}
    for name in dict.fromkeys(interfaces):
        local, target, broadcast = interface_target(name)
        for device in _ask(local, target, broadcast, name, timeout_s):
            found.setdefault(device.address, device)
    return sorted(found.values(), key=lambda d: socket.inet_aton(d.address))


def probe(address: str, timeout_s: float = 0.5) -> GigeDevice | None:
    """The camera at ``address`` if it answers a unicast discovery within ``timeout_s``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as route:
        route.connect((address, GVCP_PORT))  # picks the local address; sends nothing
        local = route.getsockname()[0]
    answers = _ask(local, address, False, "", timeout_s)
    return next((d for d in answers if d.address == address), answers[0] if answers else None)


def _ask(local: str, target: str, broadcast: bool, name: str, timeout_s: float) -> list[GigeDevice]:
    replies: list[GigeDevice] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((local, 0))
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            sock.sendto(discovery_command(int(time.monotonic() * 1000)), (target, GVCP_PORT))
        except OSError as exc:
            raise CameraError(f"discovery on {name or local} failed: {exc.strerror}") from None
        deadline = time.monotonic() + timeout_s
        while len(replies) < _MAX_REPLIES:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            device = parse_acknowledge(sock.recv(2048), name)
            if device is not None:
                replies.append(device)
    return replies

"""Simulated NI devices: which physical channels and terminals exist, and the driver's errors.

Names are checked like NI-DAQmx does (case-insensitive, ``Dev1/ao0``, ``Dev1/ao0:3``, lists with
commas, a leading ``/`` allowed), and refusals carry the driver's status codes so that the
nidaqmx client raises the same ``DaqError`` a real device would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from nidaqmx.error_codes import DAQmxErrors

CHANNEL_KINDS = ("ao", "ai", "line", "ctr")
_KIND_LABEL = {
    "ao": "analog output",
    "ai": "analog input",
    "line": "digital line",
    "ctr": "counter",
}


class DriverError(Exception):
    """A refusal the simulated driver reports with an NI-DAQmx status code."""

    def __init__(self, code: DAQmxErrors, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unsupported_value(prop: str, value: object, allowed: str) -> DriverError:
    """The driver's answer to a property value out of the device's range (-200077)."""
    return DriverError(
        DAQmxErrors.INVALID_ATTRIBUTE_VALUE,
        f"Requested value is not a supported value for this property. The property value may "
        f"be invalid because it conflicts with another property.\nProperty: {prop}\n"
        f"Requested Value: {value}\n{allowed}",
    )


@dataclass(frozen=True)
class SimulatedDevice:
    """A multifunction board like an X-series card; ``ai<k>`` is wired to ``ao<k>`` by default.

    ``wiring`` maps an analog input to the analog output it measures (``{"ai3": "ao0"}``), and
    ``loopback_lag_s`` is the first-order lag between them (a piezo and its position sensor).
    """

    name: str = "Dev1"
    ao_count: int = 8
    ai_count: int = 16
    ports: int = 1
    lines_per_port: int = 8
    counters: int = 4
    pfi_count: int = 16
    ao_range_v: tuple[float, float] = (-10.0, 10.0)
    ai_range_v: tuple[float, float] = (-10.0, 10.0)
    max_ao_rate_hz: float = 1.0e6
    max_ai_rate_hz: float = 1.0e6
    max_do_rate_hz: float = 10.0e6
    counter_timebase_hz: float = 100.0e6
    loopback_lag_s: float = 0.002
    wiring: Mapping[str, str] = field(default_factory=dict)

    def channels(self, kind: str) -> list[str]:
        """Physical channel names of one kind, ``Dev1/ao0`` style."""
        if kind == "ao":
            return [f"{self.name}/ao{i}" for i in range(self.ao_count)]
        if kind == "ai":
            return [f"{self.name}/ai{i}" for i in range(self.ai_count)]
        if kind == "ctr":
            return [f"{self.name}/ctr{i}" for i in range(self.counters)]
        return [
            f"{self.name}/port{p}/line{i}"
            for p in range(self.ports)
            for i in range(self.lines_per_port)
        ]

    def terminals(self) -> list[str]:
        """Routable terminals: the AI/AO clocks and triggers, PFI and RTSI lines, counters."""
        base = [
            f"/{self.name}/{sub}/{sig}"
            for sub in ("ao", "ai", "do")
            for sig in ("StartTrigger", "SampleClock")
        ]
        base += [f"/{self.name}/PFI{i}" for i in range(self.pfi_count)]
        base += [f"/{self.name}/RTSI{i}" for i in range(8)]
        base += [f"/{self.name}/Ctr{i}InternalOutput" for i in range(self.counters)]
        return base

    def ao_for_ai(self, ai_physical: str) -> str | None:
        """The analog output an analog input measures, if any."""
        local = ai_physical.split("/", 1)[1].lower()
        wired = {k.lower(): v for k, v in self.wiring.items()}
        if local in wired:
            target = wired[local]
            return target if "/" in target else f"{self.name}/{target}"
        index = int(local[2:])
        return f"{self.name}/ao{index}" if index < self.ao_count else None

    def max_rate_hz(self, kind: str) -> float:
        return {"ao": self.max_ao_rate_hz, "ai": self.max_ai_rate_hz}.get(kind, self.max_do_rate_hz)


class DeviceSet:
    """The devices of the simulated system, and name resolution against them."""

    def __init__(self, devices: list[SimulatedDevice]) -> None:
        self.devices = {d.name.lower(): d for d in devices}
        self._channels: dict[str, tuple[str, SimulatedDevice, str]] = {}
        for device in devices:
            for kind in CHANNEL_KINDS:
                for name in device.channels(kind):
                    self._channels[name.lower()] = (kind, device, name)
        self._terminals = {t.lower(): t for d in devices for t in d.terminals()}

    def device(self, physical: str) -> SimulatedDevice:
        name = physical.strip().lstrip("/").split("/")[0]
        device = self.devices.get(name.lower())
        if device is None:
            raise DriverError(
                DAQmxErrors.INVALID_DEVICE_ID,
                f"Device identifier is invalid.\nDevice Specified: {name}\n"
                f"Suggested Device(s): {', '.join(d.name for d in self.devices.values())}",
            )
        return device

    def resolve(self, spec: str, kind: str) -> list[str]:
        """Expand a channel list to physical names, refusing what the device does not have."""
        resolved = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            for name in _expand_range(item):
                self.device(name)
                found = self._channels.get(name.lower())
                if found is None:
                    local = name.split("/", 1)[1] if "/" in name else name
                    raise DriverError(
                        DAQmxErrors.PHYSICAL_CHAN_DOES_NOT_EXIST,
                        f"Physical channel specified does not exist on this device.\n"
                        f"Physical Channel Name: {local}\nDevice: {self.device(name).name}",
                    )
                found_kind, _, canonical = found
                if found_kind != kind:
                    raise DriverError(
                        DAQmxErrors.INVALID_PHYS_CHAN_TYPE,
                        f"Physical channel {canonical} is an {_KIND_LABEL[found_kind]} channel; "
                        f"this operation needs an {_KIND_LABEL[kind]} channel.",
                    )
                resolved.append(canonical)
        if not resolved:
            raise DriverError(
                DAQmxErrors.PHYSICAL_CHAN_DOES_NOT_EXIST, "No physical channel specified."
            )
        return resolved

    def terminal(self, name: str) -> str:
        """The canonical name of a routable terminal, or the driver's routing error."""
        canonical = self._terminals.get(name.strip().lower())
        if canonical is None:
            raise DriverError(
                DAQmxErrors.INVALID_ROUTING_SOURCE_TERMINAL_NAME_ROUTING,
                f"Source terminal to be routed could not be found on the device.\n"
                f"Source Terminal: {name}",
            )
        return canonical


_RANGE = re.compile(r"^(?P<head>.*?)(?P<first>\d+):(?P<last>\d+)$")


def _expand_range(item: str) -> list[str]:
    name = item.lstrip("/")
    match = _RANGE.match(name)
    if match is None:
        return [name]
    first, last = int(match["first"]), int(match["last"])
    step = 1 if last >= first else -1
    return [f"{match['head']}{i}" for i in range(first, last + step, step)]

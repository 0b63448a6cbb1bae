"""What a change of the rig config needs: nothing, a live update, a new scan, or new processes.

The rule table below is the one the README shows ("setting, applies live or restarts what"): the
most specific rule for each changed key wins, and a change needs the union of what its keys need.
Rings sized for the old frame or volume no longer fit: that alone restarts every process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lightsheet.app.planning import RingGeometry
from lightsheet.config import RigConfig

GUI = "gui"  # only the viewer sees it
NEXT_RUN = "next run"  # read when the next acquisition starts
LIVE = "live"  # sent to the running processes, nothing restarts
SCAN = "scan"  # camera and scan restart their acquisition (the processes keep running)
CAMERA = "camera process"
SCANNER = "scanner process"
TRIGGER = "trigger process"
ALL = "all processes"  # new shared memory
PROCESSING = "live processor"  # the live processor is reconfigured; the rig goes on untouched

# (key prefix, effect), most specific first. "camera.exposure_ms" is live for a free-running
# camera only: with external triggers it changes the waveforms (see ``changes``).
RULES: tuple[tuple[str, str], ...] = (
    ("name", GUI),
    ("viewer", GUI),
    ("saving", NEXT_RUN),
    ("camera.pixel_size_um", NEXT_RUN),
    ("logging", NEXT_RUN),
    ("processing", PROCESSING),
    ("buffers.preview_hz", LIVE),
    ("camera.exposure_ms", LIVE),
    ("buffers", ALL),
    ("camera.sensor_width", ALL),
    ("camera.sensor_height", ALL),
    ("camera.backend", CAMERA),
    ("camera.simulated", CAMERA),
    ("camera", SCAN),
    ("daq", SCANNER),
    ("scanning", SCAN),
    ("trigger", TRIGGER),
)


@dataclass(frozen=True)
class ConfigChange:
    keys: tuple[str, ...]
    live: bool = False
    scan: bool = False
    restart: frozenset[str] = field(default_factory=frozenset)  # processes to replace
    all_processes: bool = False
    processing: bool = False

    @property
    def empty(self) -> bool:
        return not (self.live or self.scan or self.restart or self.all_processes or self.processing)

    def describe(self) -> str:
        if not self.keys:
            return "no change"
        if self.all_processes:
            what = "every process restarts (new shared memory)"
        else:
            parts = [f"{name} process restarts" for name in sorted(self.restart)]
            parts += ["the scan restarts"] if self.scan else []
            parts += ["applied live"] if self.live else []
            parts += ["the live processor is reconfigured"] if self.processing else []
            what = ", ".join(parts) or "applies at the next run"
        return f"{', '.join(self.keys)}: {what}"


def effect_of(key: str) -> str:
    for prefix, effect in RULES:
        if key == prefix or key.startswith(prefix + "."):
            return effect
    return ALL


def changes(old: RigConfig, new: RigConfig) -> ConfigChange:
    """What applying ``new`` over ``old`` needs."""
    keys = tuple(sorted(_differing(old.model_dump(), new.model_dump())))
    effects = {key: effect_of(key) for key in keys}
    if "camera.exposure_ms" in effects and new.camera.trigger_mode == "external":
        effects["camera.exposure_ms"] = SCAN  # the exposure windows are in the waveforms
    restart = {_PROCESS[e] for e in effects.values() if e in _PROCESS}
    all_processes = ALL in effects.values()
    all_processes |= RingGeometry.of(old) != RingGeometry.of(new)
    all_processes |= (old.trigger.mode == "none") != (new.trigger.mode == "none")
    if _simulated_planes_changed(old, new):
        restart.add("camera")  # a free-running simulated camera renders the planes it was built for
    return ConfigChange(
        keys=keys,
        live=LIVE in effects.values(),
        scan=SCAN in effects.values() or bool(restart),
        restart=frozenset(restart),
        all_processes=all_processes,
        processing=PROCESSING in effects.values(),
    )


_PROCESS = {CAMERA: "camera", SCANNER: "scanner", TRIGGER: "trigger"}


def _differing(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b)):
            path = f"{prefix}.{key}" if prefix else str(key)
            found += _differing(a.get(key), b.get(key), path)
        return found
    return [] if a == b else [prefix]


def _simulated_planes_changed(old: RigConfig, new: RigConfig) -> bool:
    if new.camera.backend != "simulated" or new.camera.trigger_mode != "internal":
        return False
    mode = new.scanning.mode
    return old.scanning.imaged_z_um(mode) != new.scanning.imaged_z_um(mode)

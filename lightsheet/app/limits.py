"""What the rig will run: each scan setting's allowed range, why a value is refused, the fix.

``scan_waveforms`` (the Session's own check) stays the judge: a config is refused here exactly
when it refuses it. This adds what an operator needs: the field at fault, in its own units (ms,
µm, volumes/s; never the board's volts), the range it allows with the other settings as they
are, and fixes checked to work. ``changed`` names the keys just edited, so a timing conflict is
reported at the field that caused it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lightsheet.app.scan_plan import SCAN_MODES, ScanConfigError, scan_waveforms
from lightsheet.config import ConfigIssue, RigConfig
from lightsheet.config.pydantic_issues import line_of

EXPOSURE = "camera.exposure_ms"
VOLUME_RATE = "scanning.volume_rate_hz"
PLANES = "scanning.n_planes"
Z_START = "scanning.z_start_um"
Z_END = "scanning.z_end_um"
PLANAR_Z = "scanning.planar_z_um"
LATERAL_HZ = "scanning.lateral_frequency_hz"
LATERAL_V = "scanning.lateral_amplitude_v"

# Smallest step of each value as the GUI enters it: a fix is a value the operator could type.
STEP = {EXPOSURE: 0.01, VOLUME_RATE: 0.001, PLANES: 1, LATERAL_HZ: 0.1, LATERAL_V: 0.001}
MIN_EXPOSURE_MS, MAX_EXPOSURE_MS = 0.01, 10000.0
MIN_VOLUME_RATE, MAX_VOLUME_RATE = 0.01, 100.0
MAX_PLANES = 2000


@dataclass(frozen=True)
class Fix:
    """A change that makes a refused setting playable; ``label`` says it as an operator would."""

    key: str
    value: float
    label: str


@dataclass(frozen=True)
class Refusal:
    """A setting the rig will not run: the key at fault, why, and the fixes known to work."""

    key: str
    message: str
    kind: str  # timing | z-range | lateral | limits
    fixes: tuple[Fix, ...] = ()


@dataclass(frozen=True)
class Range:
    """Values a field may take with the other settings as they are."""

    low: float
    high: float
    unit: str

    def __contains__(self, value: float) -> bool:
        return self.low - 1e-9 <= value <= self.high + 1e-9

    def text(self) -> str:
        return f"{_num(self.low)}–{_num(self.high)} {self.unit}"


# -- the numbers of a scan ---------------------------------------------------------------------


def samples_per_plane(config: RigConfig) -> int:
    """Board samples per plane of a volumetric scan, rounded as the waveform builder does."""
    s = config.scanning
    ramp = config.daq.sample_rate_hz * (1.0 - s.flyback_fraction)
    return round(ramp / (s.volume_rate_hz * s.n_planes))


def exposure_samples(config: RigConfig) -> int:
    return max(1, round(config.camera.exposure_ms * 1e-3 * config.daq.sample_rate_hz))


def max_exposure_ms(config: RigConfig, mode: str) -> float:
    """Longest exposure that fits the plane period (volumetric); planar frames stretch to fit."""
    if mode != "volumetric":
        return MAX_EXPOSURE_MS
    period_ms = samples_per_plane(config) / config.daq.sample_rate_hz * 1e3
    return max(0.0, min(MAX_EXPOSURE_MS, period_ms))


def max_volume_rate_hz(config: RigConfig, cap: bool = True) -> float:
    """Highest volume rate at which every exposure fits its plane (at least 2 samples each)."""
    s = config.scanning
    need = max(exposure_samples(config), 2)
    rate = config.daq.sample_rate_hz * (1.0 - s.flyback_fraction) / (s.n_planes * (need - 0.5))
    return min(MAX_VOLUME_RATE if cap else math.inf, rate * (1 - 1e-9))


def max_planes(config: RigConfig) -> int:
    """Most planes per volume at the current volume rate and exposure."""
    planes = max_volume_rate_hz(config, cap=False) * config.scanning.n_planes
    return int(max(0, min(MAX_PLANES, math.floor(planes / config.scanning.volume_rate_hz))))


def z_range_um(config: RigConfig) -> Range:
    """Where the piezo and the z galvo can both go, from their channels' voltage limits."""
    channels, k = config.daq.channels, config.daq.piezo_um_per_v
    piezo = sorted((channels.piezo.min_v * k, channels.piezo.max_v * k))
    calibration = config.scanning.calibration
    slope, offset = calibration.z_galvo_slope_v_per_um, calibration.z_galvo_offset_v
    galvo = channels.z_galvo
    if slope == 0:
        reachable = galvo.min_v <= offset <= galvo.max_v
        low, high = (piezo[0], piezo[1]) if reachable else (math.nan, math.nan)
    else:
        g = sorted(((galvo.min_v - offset) / slope, (galvo.max_v - offset) / slope))
        low, high = max(piezo[0], g[0]), min(piezo[1], g[1])
    return Range(low, high, "µm")


def max_lateral_amplitude_v(config: RigConfig) -> float:
    lateral = config.daq.channels.lateral_galvo
    return max(0.0, min(lateral.max_v, -lateral.min_v))


def max_lateral_frequency_hz(config: RigConfig) -> float:
    """Fastest lateral sweep: 4 samples per sweep, and no step above the galvo's largest."""
    fs = config.daq.sample_rate_hz
    amplitude = config.scanning.lateral_amplitude_v
    step = config.daq.channels.lateral_galvo.max_step_v
    by_step = step * fs / (4 * amplitude) if amplitude > 0 else math.inf
    return min(fs / 4, by_step)


def field_ranges(config: RigConfig, mode: str) -> dict[str, Range]:
    """The allowed range of every scan field, each with the others as they are in ``config``."""
    s = config.scanning
    z, longest = z_range_um(config), _floor(max_exposure_ms(config, mode), STEP[EXPOSURE])
    return {
        EXPOSURE: Range(MIN_EXPOSURE_MS, longest, "ms"),
        VOLUME_RATE: Range(MIN_VOLUME_RATE, fastest_rate(config) or math.nan, "volumes/s"),
        PLANES: Range(s.skip_planes_start + s.skip_planes_end + 1, max_planes(config), "planes"),
        Z_START: z,
        Z_END: z,
        PLANAR_Z: z,
        LATERAL_V: Range(0.0, max_lateral_amplitude_v(config), "V"),
        LATERAL_HZ: Range(0.0, _floor(max_lateral_frequency_hz(config), STEP[LATERAL_HZ]), "Hz"),
    }


# -- refusals ---------------------------------------------------------------------------------


def playable(config: RigConfig, mode: str) -> str | None:
    """None when the rig plays ``mode`` with ``config`` (the Session's own check), else why not."""
    try:
        scan_waveforms(config, mode)
    except ScanConfigError as exc:
        return str(exc)
    return None


def refusals(config: RigConfig, mode: str, changed: Iterable[str] = ()) -> list[Refusal]:
    """Why the rig refuses ``config`` in ``mode`` (empty when it plays it), with checked fixes."""
    if mode not in SCAN_MODES:
        return []
    reason = playable(config, mode)
    if reason is None:
        return []
    changed = tuple(changed)
    found = _diagnose(config, mode, changed)
    if not found:
        found = [_limits_refusal(config, mode, reason, changed)]
    return [_with_fixes(r, config, mode, changed) for r in found]


def config_issues(
    config: RigConfig, document: Any, source: str, modes: Iterable[str] | None = None
) -> list[ConfigIssue]:
    """Refusals as ``FILE:LINE: key: message`` issues, lines from the YAML ``document``; a timing
    conflict is put on the key the file sets (the rate, when it sets no exposure)."""
    written = [key for key in (EXPOSURE, VOLUME_RATE, PLANES) if _written(document, key)]
    issues: list[ConfigIssue] = []
    for mode in modes if modes is not None else (config.scanning.mode,):
        for r in refusals(config, mode, written):
            issue = ConfigIssue(source, line_of(document, r.key.split(".")), r.key, describe(r))
            if issue not in issues:
                issues.append(issue)
    return issues


def _written(document: Any, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(document, dict) or part not in document:
            return False
        document = document[part]
    return True


def describe(refusal: Refusal) -> str:
    """The message with its fixes, on one line."""
    fixes = " or ".join(f.label for f in refusal.fixes)
    return f"{refusal.message}; fix: {fixes}" if fixes else refusal.message


# -- internals --------------------------------------------------------------------------------


def _diagnose(config: RigConfig, mode: str, changed: tuple[str, ...]) -> list[Refusal]:
    found = _z_refusals(config, mode)
    lateral_v = max_lateral_amplitude_v(config)
    if config.scanning.lateral_amplitude_v > lateral_v + 1e-12:
        amplitude = _num(config.scanning.lateral_amplitude_v)
        why = f"{amplitude} V is beyond the lateral galvo's limit of ±{_num(lateral_v)} V"
        found.append(Refusal(LATERAL_V, why, "lateral"))
    if mode == "volumetric":
        timing = _timing_refusal(config, changed)
        if timing is not None:
            found.append(timing)
    lateral_hz = max_lateral_frequency_hz(config)
    if config.scanning.lateral_frequency_hz > lateral_hz:
        why = "a sweep needs 4 samples at least and no step beyond the lateral galvo's largest"
        found.append(Refusal(LATERAL_HZ, f"at most {_num(lateral_hz)} Hz: {why}", "lateral"))
    return found


def _z_refusals(config: RigConfig, mode: str) -> list[Refusal]:
    z = z_range_um(config)
    keys = (Z_START, Z_END) if mode == "volumetric" else (PLANAR_Z,)
    why = "µm is beyond what the piezo and the z galvo can reach"
    return [Refusal(k, f"{_num(_get(config, k))} {why}: {z.text()}", "z-range")
            for k in keys if _get(config, k) not in z]  # fmt: skip


def _timing_refusal(config: RigConfig, changed: tuple[str, ...]) -> Refusal | None:
    s, camera = config.scanning, config.camera
    spp = samples_per_plane(config)
    if spp >= max(exposure_samples(config), 2):
        return None
    plane_ms = spp / config.daq.sample_rate_hz * 1e3
    scan = f"{s.n_planes} planes at {_num(s.volume_rate_hz)} volumes/s"
    exposure = f"{_num(camera.exposure_ms)} ms"
    if VOLUME_RATE in changed and EXPOSURE not in changed:
        rate = _num(fastest_rate(config) or math.nan)
        return Refusal(VOLUME_RATE, f"at most {rate} volumes/s for {s.n_planes} planes of "
                       f"{exposure}", "timing")  # fmt: skip
    if PLANES in changed and EXPOSURE not in changed:
        most = f"at most {max_planes(config)} planes at {_num(s.volume_rate_hz)} volumes/s"
        return Refusal(PLANES, f"{most} with {exposure} exposures", "timing")
    message = (
        f"{_num(camera.exposure_ms)} ms does not fit the plane period of {_num(plane_ms)} ms "
        f"({scan}): at most {_num(_floor(plane_ms, STEP[EXPOSURE]))} ms"
    )
    return Refusal(EXPOSURE, message, "timing")


def _with_fixes(
    refusal: Refusal, config: RigConfig, mode: str, changed: tuple[str, ...]
) -> Refusal:
    candidates = _candidate_fixes(refusal, config, mode)
    fixes = tuple(f for f in candidates if _fixes(f, refusal, config, mode, changed))
    return Refusal(refusal.key, refusal.message, refusal.kind, fixes[:2])


def _candidate_fixes(refusal: Refusal, config: RigConfig, mode: str) -> list[Fix]:
    if refusal.kind == "z-range":
        z = z_range_um(config)
        value = min(max(_get(config, refusal.key), z.low), z.high)
        return [Fix(refusal.key, value, f"set {_num(value)} µm")] if math.isfinite(value) else []
    if refusal.kind == "lateral" and refusal.key == LATERAL_V:
        value = _floor(max_lateral_amplitude_v(config), STEP[LATERAL_V])
        return [Fix(LATERAL_V, value, f"set {_num(value)} V")]
    if refusal.kind == "lateral":
        value = _floor(max_lateral_frequency_hz(config), STEP[LATERAL_HZ])
        return [Fix(LATERAL_HZ, value, f"set {_num(value)} Hz")]
    fixes = []
    rate = _largest_rate(config, mode)
    if rate is not None:
        own = refusal.key == VOLUME_RATE
        label = f"set {_num(rate)} volumes/s" if own else f"lower the volume rate to {_num(rate)}/s"
        fixes.append(Fix(VOLUME_RATE, rate, label))
    if refusal.kind == "timing":
        exposure = _floor(max_exposure_ms(config, mode), STEP[EXPOSURE])
        fixes.append(Fix(EXPOSURE, exposure, f"shorten the exposure to {_num(exposure)} ms"))
        if refusal.key == PLANES and max_planes(config) >= 1:
            fixes.insert(0, Fix(PLANES, max_planes(config), f"use {max_planes(config)} planes"))
    return fixes


def _fixes(
    fix: Fix, refusal: Refusal, config: RigConfig, mode: str, changed: tuple[str, ...]
) -> bool:
    """A fix counts when the refusal it answers is gone afterwards (others may remain)."""
    if fix.value == _get(config, fix.key):
        return False
    try:
        fixed = _with(config, fix.key, fix.value)
    except ValueError:
        return False
    reason = playable(fixed, mode)
    if reason is None:
        return True
    if refusal.kind == "steps":
        return "step" not in reason
    return all(
        r.kind != refusal.kind or r.key != refusal.key for r in _diagnose(fixed, mode, changed)
    )


def _largest_rate(config: RigConfig, mode: str) -> float | None:
    """The fastest playable volume rate below the current one, if any."""
    if mode != "volumetric":
        return None
    rate = fastest_rate(config, below=config.scanning.volume_rate_hz)
    return rate if rate is not None and rate < config.scanning.volume_rate_hz else None


def fastest_rate(config: RigConfig, below: float = MAX_VOLUME_RATE) -> float | None:
    """The highest volume rate (up to ``below``) not too fast for the scan: from the timing bound
    down 3 % at a time, as the channels' step limits may ask for less. Other problems (a z out
    of range) are not the rate's and do not count."""
    rate = _nice(min(below, max_volume_rate_hz(config)), STEP[VOLUME_RATE])
    for _ in range(160):
        if rate < MIN_VOLUME_RATE:
            return None
        try:
            fixed = _with(config, VOLUME_RATE, rate)
        except ValueError:
            return None
        reason = playable(fixed, "volumetric") or ""
        too_fast = "step" in reason or "samples per" in reason
        if not too_fast and _timing_refusal(fixed, ()) is None:
            return rate
        rate = _nice(rate * 0.97, STEP[VOLUME_RATE])
    return None


def _limits_refusal(config: RigConfig, mode: str, reason: str, changed: tuple[str, ...]) -> Refusal:
    """A refusal the ranges above do not explain: too fast for a channel's step limit, or else
    the builder's own words."""
    key = _key_of(reason, changed, mode)
    channel = reason.split("channel ", 1)[1].split(":", 1)[0] if "channel " in reason else ""
    if "step" not in reason or mode != "volumetric" or not channel:
        return Refusal(key, reason, "limits")
    rate = _largest_rate(config, mode)
    what = channel.replace("_", " ")
    limit = "" if rate is None else f" (at most {_num(rate)} volumes/s with this z range)"
    message = f"the {what} cannot follow a scan this fast: it would step beyond its limit{limit}"
    return Refusal(key if key != LATERAL_HZ else VOLUME_RATE, message, "steps")


def _key_of(reason: str, changed: tuple[str, ...], mode: str) -> str:
    """The field a refusal without a known cause is shown at: what changed, or the usual one."""
    for key in changed:
        if key.startswith(("camera.exposure", "scanning.", "daq.")):
            return key
    if "lateral_galvo" in reason:
        return LATERAL_HZ
    return VOLUME_RATE if mode == "volumetric" else PLANAR_Z


def _with(config: RigConfig, key: str, value: float) -> RigConfig:
    data = config.model_dump()
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = int(value) if isinstance(node[last], int) else value
    return RigConfig.model_validate(data)


def _get(config: Any, key: str) -> float:
    for part in key.split("."):
        config = getattr(config, part)
    return float(config)


def _floor(value: float, step: float) -> float:
    """``value`` rounded down onto ``step`` (a value the operator can type)."""
    if not math.isfinite(value):
        return value
    decimals = max(0, -math.floor(math.log10(step)))
    return round(math.floor(value / step + 1e-9) * step, decimals)


def _nice(value: float, step: float, digits: int = 3) -> float:
    """Rounded down to ``digits`` significant digits and onto ``step``: 1.1249 -> 1.12."""
    if value <= 0 or not math.isfinite(value):
        return value
    return _floor(value, max(step, 10 ** (math.floor(math.log10(value)) - digits + 1)))


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "?"
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"

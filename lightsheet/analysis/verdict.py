"""The one-line verdict on a run's timing figures: in sync, out of sync and why, or unknown.

Each rule reads one group of figures and, when it fails, says what an operator would check;
the verdict lists the failures in the order they usually explain each other (a free-running
camera explains late frames, a late camera explains planes at the wrong z and unlit exposures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The measured frame rate and volume period may differ from the commanded ones by this share.
RATE_TOLERANCE = 0.01
#: An exposure that was lit for less than this share of its time is reported.
LIT_SHARE_MIN = 0.9
#: Reasons the one-line summary names; the rest are counted.
LISTED_REASONS = 3

Section = dict[str, Any]


def _rate(section: Section) -> str | None:
    interval = section.get("interval") or {}
    ratio = interval.get("rate_ratio")
    if ratio is None or abs(ratio - 1.0) <= RATE_TOLERANCE:
        return None
    text = (
        f"frame intervals are {ratio:.3g} x the commanded ones "
        f"(mean {_num(interval.get('mean_ms'))} ms, commanded {_num(interval['commanded_ms'])} ms)"
    )
    if section.get("trigger_mode") == "internal":
        text += ": the camera free-runs (trigger_mode internal), the scan does not pace it"
    return text


def _gaps(section: Section) -> str | None:
    frames = section.get("frames") or {}
    missing = frames.get("missing_in_run", 0)
    if not missing:
        return None
    text = f"{missing} frame(s) missing in {frames.get('gaps', 0)} gap(s)"
    listed = frames.get("gap_list") or []
    if listed:
        text += f", first at volume {listed[0]['volume']} plane {listed[0]['plane']}"
    dropped = frames.get("dropped_by_pipeline")
    if dropped:
        text += f" ({dropped} dropped by the pipeline, ring full)"
    return text


def _volume_period(section: Section) -> str | None:
    period = section.get("volume_period") or {}
    measured, commanded = period.get("measured_s"), period.get("commanded_s")
    if measured is None or not commanded or abs(measured / commanded - 1) <= RATE_TOLERANCE:
        return None
    return f"volume period {measured * 1e3:.2f} ms, commanded {commanded * 1e3:.2f} ms"


def _off_schedule(section: Section) -> str | None:
    late = section.get("schedule") or {}
    count_late, count_early = late.get("late_frames", 0), late.get("early_frames", 0)
    if not count_late and not count_early:
        return None
    worst = late["worst_late_ms"] if count_late else late["worst_early_ms"]
    return (
        f"{count_late} frame(s) late and {count_early} early by more than "
        f"{late['threshold_ms']:.3f} ms (a tenth of an interval; worst {worst:+.3f} ms, "
        f"first at frame {late.get('first_off_frame_id')})"
    )


def _z(section: Section) -> str | None:
    z = section.get("z_alignment") or {}
    if not z.get("available") or not z.get("planes_off"):
        return None
    worst = next(p for p in z["per_plane"] if p["plane"] == z["worst_plane"])
    return (
        f"plane {worst['plane']} imaged {worst['error_um']:+.2f} µm from its commanded z "
        f"{worst['commanded_um']:.2f} µm ({z['planes_off']} plane(s) beyond the "
        f"{z['tolerance_um']:.2f} µm limit, a quarter of the plane spacing)"
        if z.get("plane_spacing_um")
        else f"the plane was imaged {worst['error_um']:+.2f} µm from its commanded z "
        f"(limit {z['tolerance_um']:.2f} µm)"
    )


def _dark(section: Section) -> str | None:
    z = section.get("z_alignment") or {}
    analysed, matched = z.get("frames_analysed", 0), z.get("frames_matched", 0)
    if not z.get("available") or matched >= analysed:
        return None
    return (
        f"{analysed - matched} of {analysed} analysed frames do not show the sample "
        "(dark: was the laser on during the exposure?)"
    )


def _lit(section: Section) -> str | None:
    exposure = section.get("exposure") or {}
    lowest = exposure.get("lit_share_min")
    if lowest is None or lowest >= LIT_SHARE_MIN:
        return None
    text = f"exposures only {lowest:.0%} lit (mean {exposure['lit_share_mean']:.0%})"
    if exposure.get("delay_source") == "z alignment":
        text += f": the exposure starts ~{exposure['delay_ms']:.2f} ms after its trigger"
    return text


RULES: tuple[Callable[[Section], str | None], ...] = (
    _rate, _gaps, _volume_period, _off_schedule, _z, _dark, _lit,
)


def judge(section: Section) -> tuple[bool | None, str, list[str]]:
    """(in_sync, one-line summary, reasons) for a timing section; None when undecidable."""
    reasons = [reason for rule in RULES if (reason := rule(section)) is not None]
    if reasons:
        shown = "; ".join(reasons[:LISTED_REASONS])
        more = len(reasons) - LISTED_REASONS
        return False, "out of sync: " + shown + (f"; +{more} more" if more > 0 else ""), reasons
    missing = _undecidable(section)
    if missing is not None:
        return None, f"unknown: {missing}", reasons
    return True, "in sync: " + _in_sync_details(section), reasons


def _undecidable(section: Section) -> str | None:
    frames = section.get("frames") or {}
    if not frames.get("present"):
        return "no frame was saved"
    interval = section.get("interval") or {}
    if interval.get("commanded_ms") is None:
        return "the run holds no commanded schedule (/waveforms)"
    if not interval.get("count"):
        return "too few consecutive frames to measure an interval"
    return None


def _in_sync_details(section: Section) -> str:
    interval = section["interval"]
    parts = [
        f"{section['frames']['present']} frames on schedule (interval "
        f"{interval['mean_ms']:.3f} ms, commanded {interval['commanded_ms']:.3f} ms, "
        f"jitter {_num(interval.get('jitter_us'), 1)} µs)"
    ]
    z = section.get("z_alignment") or {}
    if z.get("available") and z.get("worst_error_um") is not None:
        parts.append(
            f"planes within {abs(z['worst_error_um']):.2f} µm of their z "
            f"(limit {z['tolerance_um']:.2f} µm)"
        )
    else:
        parts.append(f"z not checked ({z.get('why', 'no alignment')})")
    exposure = section.get("exposure") or {}
    if exposure.get("lit_share_min") is not None:
        parts.append(f"exposures at least {exposure['lit_share_min']:.0%} lit")
    return ", ".join(parts)


def _num(value: float | None, digits: int = 3) -> str:
    return "?" if value is None else f"{value:.{digits}f}"

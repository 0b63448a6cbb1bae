"""The timing section as text for ``lightsheet inspect``: the verdict, then one line per group."""

from __future__ import annotations

from typing import Any

from lightsheet.analysis.verdict import LISTED_REASONS

_WIDTH = 14  # as the summary lines of `lightsheet inspect` above these
_PLANES_PER_LINE = 8


def format_timing(section: dict[str, Any]) -> str:
    """Aligned ``label: value`` lines: verdict first, then the figures, reasons and notes."""
    rows = [("timing", section.get("summary", "unknown"))]
    for label, describe in _GROUPS:
        text = describe(section.get(_KEYS[label]) or {})
        if text:
            rows.append((label, text))
    rows += _per_plane_rows(section.get("z_alignment") or {})
    # The summary names the first reasons; the rest get a line each.
    rows += [("reason", reason) for reason in section.get("reasons", [])[LISTED_REASONS:]]
    rows += [("note", note) for note in section.get("notes", [])]
    return "\n".join(f"{label + ':' if label else '':<{_WIDTH}} {value}" for label, value in rows)


def _gaps(f: dict[str, Any]) -> str:
    if not f.get("present"):
        return "no frame saved"
    missing = f.get("missing_in_run", 0)
    if not missing:
        text = f"none among {f['present']} frames"
    else:
        listed = ", ".join(
            f"volume {g['volume']} plane {g['plane']} ({g['frames']})" for g in f["gap_list"]
        )
        more = f.get("gaps", 0) - len(f["gap_list"])
        text = f"{missing} frame(s) missing in {f['gaps']} gap(s): {listed}"
        text += f", +{more} more" if more > 0 else ""
    if f.get("missing_after_last"):
        text += f"; {f['missing_after_last']} plane(s) after the last frame (the run ended)"
    return text


def _interval(i: dict[str, Any]) -> str:
    if not i.get("count"):
        return ""
    return (
        f"mean {_f(i.get('mean_ms'))} ms (commanded {_f(i.get('commanded_ms'))}), "
        f"std {_f(i.get('std_ms'))}, p1 {_f(i.get('p1_ms'))}, p99 {_f(i.get('p99_ms'))}, "
        f"worst {_f(i.get('worst_ms'))} ms over {i['count']}; jitter {_f(i.get('jitter_us'), 1)} µs"
    )


def _schedule(s: dict[str, Any]) -> str:
    if not s:
        return ""
    return (
        f"{s['late_frames']} late, {s['early_frames']} early beyond {_f(s['threshold_ms'])} ms; "
        f"worst {_f(s['worst_late_ms'], sign=True)} / {_f(s['worst_early_ms'], sign=True)} ms"
    )


def _clock(c: dict[str, Any]) -> str:
    if c.get("span_s") is None:
        return ""
    lag = f"; the host read frames up to {_f(c.get('read_lag_max_ms'), 1)} ms late"
    if c.get("drift_ppm") is None:
        return f"drift not measurable over {_f(c['span_s'], 1)} s{lag} (it fell behind)"
    return (
        f"camera vs host {_f(c['drift_ppm'], 0, sign=True)} ± {_f(c['uncertainty_ppm'], 0)} ppm "
        f"over {_f(c['span_s'], 1)} s{lag}"
    )


def _volume(v: dict[str, Any]) -> str:
    if not v.get("count"):
        return ""
    commanded = v.get("commanded_s")
    ordered = "not known" if commanded is None else f"{commanded * 1e3:.2f} ms"
    return f"{v['measured_s'] * 1e3:.2f} ms (std {v['std_s'] * 1e3:.3f}), commanded {ordered}"


def _exposure(e: dict[str, Any]) -> str:
    if not e.get("available"):
        return f"lit share not known: {e['why']}" if e.get("why") else ""
    return (
        f"lit {e['lit_share_mean']:.0%} on average, least {e['lit_share_min']:.0%} "
        f"(frame {e['least_lit_frame_id']}); exposure {_f(e['exposure_ms'])} ms, laser pulse "
        f"{_f(e['laser_pulse_ms'])} ms, delay {_f(e['delay_ms'], 2)} ms ({e['delay_source']})"
    )


def _z(z: dict[str, Any]) -> str:
    if not z.get("available"):
        return f"not checked: {z['why']}" if z.get("why") else ""
    if z.get("worst_error_um") is None:
        return f"no analysed frame matched the {z['reference']}"
    return (
        f"worst {z['worst_error_um']:+.2f} µm at plane {z['worst_plane']} (limit "
        f"{z['tolerance_um']:.2f} µm), mean |error| {z['mean_abs_error_um']:.2f} µm; "
        f"{z['frames_matched']}/{z['frames_analysed']} frames of {z['planes_analysed']} plane(s) "
        f"matched the {z['reference']}"
    )


def _per_plane_rows(z: dict[str, Any]) -> list[tuple[str, str]]:
    planes = z.get("per_plane") or []
    cells = [
        f"{p['plane']}: {'?' if p['error_um'] is None else format(p['error_um'], '+.2f')}"
        for p in planes
    ]
    lines = [
        "  ".join(cells[i : i + _PLANES_PER_LINE]) for i in range(0, len(cells), _PLANES_PER_LINE)
    ]
    return [("z error µm" if i == 0 else "", line) for i, line in enumerate(lines)]


def _f(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None:
        return "?"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


_GROUPS = (
    ("gaps", _gaps),
    ("intervals", _interval),
    ("schedule", _schedule),
    ("clock", _clock),
    ("volume period", _volume),
    ("exposure", _exposure),
    ("z alignment", _z),
)
_KEYS = {
    "gaps": "frames",
    "intervals": "interval",
    "schedule": "schedule",
    "clock": "clock",
    "volume period": "volume_period",
    "exposure": "exposure",
    "z alignment": "z_alignment",
}

"""The timing figure of a run as a PNG: frame intervals over time, their histogram, and the z
each plane was imaged at against its commanded z.

Drawn with matplotlib's Agg canvas directly (no pyplot, no display, no global backend switch),
so it is safe from a GUI thread or a headless process alike. matplotlib is imported when a
figure is drawn, not with this module: every ``lightsheet`` command imports the analysis, and
matplotlib was a quarter of the command line's start.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from lightsheet.analysis.timing import TimingReport, analyse_timing

#: (width, height) of the written PNG in pixels.
PLOT_SIZE_PX = (1000, 1100)
_DPI = 100
_COLOURS = {True: "#1a7f37", False: "#cf222e", None: "#57606a"}


def write_timing_plot(source: TimingReport | str | Path, path: str | Path) -> Path:
    """Draw the timing figure of a run (a folder, or a report already computed) into ``path``.

    Raises RunError for a folder that is not a run and OSError when the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # see the module docstring
    from matplotlib.figure import Figure

    report = source if isinstance(source, TimingReport) else analyse_timing(source)
    width, height = PLOT_SIZE_PX
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, hspace=0.45, wspace=0.25)
    _intervals_over_time(figure.add_subplot(grid[0, :]), report)
    _schedule_offsets(figure.add_subplot(grid[1, :]), report)
    _interval_histogram(figure.add_subplot(grid[2, 0]), report)
    _z_alignment(figure.add_subplot(grid[2, 1]), report)
    section = report.section
    title = "\n".join(textwrap.wrap(str(section.get("summary", "")), 120)[:3])
    figure.suptitle(title, fontsize=9, color=_COLOURS.get(section.get("in_sync")))
    figure.subplots_adjust(top=0.91, bottom=0.06, left=0.08, right=0.97)
    path = Path(path)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _intervals_over_time(ax, report: TimingReport) -> None:
    ax.set_title("Frame intervals (camera clock)", fontsize=10)
    intervals = report.intervals
    if intervals is None or not intervals.measured_s.size:
        _empty(ax, "no two consecutive frames")
        return
    ax.plot(intervals.at_s, intervals.measured_s * 1e3, ".", ms=3, label="measured")
    if intervals.commanded_s is not None:
        ax.plot(intervals.at_s, intervals.commanded_s * 1e3, "-", lw=1, alpha=0.7,
                label="commanded")
    _mark_gaps(ax, report)
    ax.set_xlabel("time since the first frame (s)")
    ax.set_ylabel("interval (ms)")
    ax.legend(loc="upper right", fontsize=8)


def _mark_gaps(ax, report: TimingReport) -> None:
    """Shade where frames are missing: between two saved frames whose ids are not consecutive."""
    times = report.times
    if times is None or times.count < 2:
        return
    at = times.camera_ts - times.camera_ts[0]
    for n, i in enumerate(np.flatnonzero(np.diff(times.ids) > 1)):
        ax.axvspan(at[i], at[i + 1], color="#cf222e", alpha=0.2,
                   label="missing frames" if n == 0 else None)


def _schedule_offsets(ax, report: TimingReport) -> None:
    ax.set_title("Each frame against its commanded time (camera clock fitted)", fontsize=10)
    times, residual = report.times, report.residuals_s
    if times is None or residual is None or not times.count:
        _empty(ax, "no commanded schedule to compare with")
        return
    threshold = (report.section.get("schedule") or {}).get("threshold_ms")
    at = times.camera_ts - times.camera_ts[0]
    if threshold is not None:
        ax.axhspan(-threshold, threshold, color="#1a7f37", alpha=0.12,
                   label=f"±{threshold:.3f} ms (a tenth of an interval)")
    ax.plot(at, residual * 1e3, ".", ms=3, label="frame")
    _mark_gaps(ax, report)
    ax.set_xlabel("time since the first frame (s)")
    ax.set_ylabel("late (+) / early (-) (ms)")
    ax.legend(loc="upper right", fontsize=8)


def _interval_histogram(ax, report: TimingReport) -> None:
    intervals = report.intervals
    commanded = (report.section.get("interval") or {}).get("commanded_ms")
    if intervals is None or not intervals.sweep.any():
        ax.set_title("Interval histogram", fontsize=10)
        _empty(ax, "no interval to count")
        return
    sweep = intervals.measured_s[intervals.sweep] * 1e3
    if commanded is None:
        ax.set_title("Intervals within a sweep", fontsize=10)
        ax.hist(sweep, bins=min(60, max(10, sweep.size // 10)))
        ax.set_xlabel("interval (ms)")
    else:
        ax.set_title(f"Intervals within a sweep, commanded {commanded:.3f} ms", fontsize=10)
        error_us = (sweep - commanded) * 1e3
        # At least ±1 µs shown, so a clock that is exact draws one bar, not float noise.
        span = (min(float(error_us.min()), -1.0), max(float(error_us.max()), 1.0))
        ax.hist(error_us, bins=min(60, max(10, sweep.size // 10)), range=span)
        ax.axvline(0, color="k", ls="--", lw=1)
        ax.set_xlabel("interval minus commanded (µs)")
    ax.set_ylabel("intervals")


def _z_alignment(ax, report: TimingReport) -> None:
    ax.set_title("Imaged z minus commanded z, per plane", fontsize=10)
    alignment = report.alignment
    z = report.section.get("z_alignment") or {}
    if alignment is None:
        _empty(ax, "z not checked:\n" + "\n".join(textwrap.wrap(str(z.get("why", "")), 40)))
        return
    tolerance = float(z.get("tolerance_um") or alignment.search.tolerance_um)
    ax.axhspan(-tolerance, tolerance, color="#1a7f37", alpha=0.12, label=f"±{tolerance:.2f} µm")
    ax.axhline(0, color="k", lw=0.8)
    ax.plot(alignment.planes, alignment.error_um, "o", ms=4, label="median over volumes")
    ax.plot(alignment.planes, alignment.worst_um, "x", ms=4, label="frame furthest off")
    errors = np.concatenate((alignment.error_um, alignment.worst_um))
    errors = errors[np.isfinite(errors)]
    reach = max(tolerance, float(np.abs(errors).max()) if errors.size else 0.0)
    ax.set_ylim(-1.6 * reach, 1.6 * reach)  # room for the legend on the side without points
    if not errors.size:
        ax.text(0.5, 0.5, "no frame matched the sample", ha="center", transform=ax.transAxes)
    ax.set_xlabel("plane")
    ax.set_ylabel("error (µm)")
    ax.legend(loc="best", fontsize=8)

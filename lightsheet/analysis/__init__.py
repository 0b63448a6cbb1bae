"""Analyses of saved runs that need more than the file format: the timing report.

``timing_section(run_dir)`` is what the end of a run stores under ``timing`` in metadata.json;
``analyse_timing`` keeps the per-frame arrays as well, for ``write_timing_plot``.
"""

from lightsheet.analysis.report_text import format_timing
from lightsheet.analysis.timing import TimingReport, analyse_timing, timing_section
from lightsheet.analysis.timing_plot import PLOT_SIZE_PX, write_timing_plot

__all__ = [
    "PLOT_SIZE_PX",
    "TimingReport",
    "analyse_timing",
    "format_timing",
    "timing_section",
    "write_timing_plot",
]

"""``lightsheet inspect``: what a run folder holds, from its files and metadata, and whether
every plane was taken where and when the run says (the timing report)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lightsheet.analysis import analyse_timing, format_timing, write_timing_plot
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.storage.run_reader import (
    RunError,
    format_summary,
    summarize_run,
    summary_as_dict,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inspect", help="summarise a run folder and judge its timing (in sync or not, and why)"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object: the summary and the timing"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="draw frame intervals over time, their histogram and the z alignment per plane",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    plot = _plot_path(args.plot) if args.plot else None
    try:
        summary = summarize_run(args.run_dir)
        report = analyse_timing(args.run_dir)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    if plot is not None:
        try:
            write_timing_plot(report, plot)
        except OSError as exc:
            raise UsageError(f"--plot {plot}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        document: dict[str, Any] = {"run": summary_as_dict(summary), "timing": report.section}
        if plot is not None:
            document["plot"] = str(plot)
        print(json.dumps(document, ensure_ascii=False, allow_nan=False))
        return ExitCode.OK
    print(format_summary(summary))
    print(format_timing(report.section))
    if plot is not None:
        print(f"{'plot:':<14} {plot}")
    return ExitCode.OK


def _plot_path(text: str) -> Path:
    """Refused before any work: a plot that could not be written would be found out last."""
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {text}: the figure is a PNG, name it FILE.png")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {text}: no folder {path.parent}")
    return path

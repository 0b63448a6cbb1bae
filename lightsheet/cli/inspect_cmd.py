"""``lightsheet inspect``: what a run folder holds, from its files and metadata."""

from __future__ import annotations

import argparse

from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.storage.run_reader import RunError, format_summary, summarize_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("inspect", help="summarise a run folder")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        summary = summarize_run(args.run_dir)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    print(format_summary(summary))
    return ExitCode.OK

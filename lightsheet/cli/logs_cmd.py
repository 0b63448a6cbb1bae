"""``lightsheet logs``: the merged, time-ordered timeline of a session's per-process logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.runtime.logs import default_log_root, follow_timeline, read_timeline


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("logs", help="print the merged timeline of a session's logs")
    parser.add_argument(
        "dir",
        nargs="?",
        help="a run folder, a session log folder or a log root (default: the newest session)",
    )
    parser.add_argument("--process", help="only this process (camera, scanner, saver, main, ...)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.dir) if args.dir else default_log_root()
    if not path.exists():
        raise UsageError(f"{path}: no such folder")
    lines = (
        follow_timeline(path, process=args.process)
        if args.follow
        else read_timeline(path, process=args.process)
    )
    try:
        for line in lines:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
            if args.follow:
                sys.stdout.flush()
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no logs found ({exc.strerror or exc})") from None
    return ExitCode.OK

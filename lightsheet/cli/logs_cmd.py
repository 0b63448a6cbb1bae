"""``lightsheet logs``: the merged, time-ordered timeline of a session's per-process logs.

Without a folder it shows the most recent session, wherever it logged: the GUI's sessions live
under the log root (``$XDG_STATE_HOME/lightsheet/logs``), a headless acquisition logs into
``RUN_DIR/logs``. The candidates are the newest session of the log root, the run folders
``lightsheet acquire`` remembered (``remember_run``, a list kept beside the log root), and run
folders in the current folder and its ``runs/`` (where ``make run`` puts its demo); the one whose
logs were written last wins, and its folder is named on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.runtime.logs import (
    default_log_root,
    follow_timeline,
    latest_session_dir,
    read_timeline,
)

RECENT_RUNS = "recent-runs.txt"
KEEP_RECENT = 100


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("logs", help="print the merged timeline of a session's logs")
    parser.add_argument(
        "dir",
        nargs="?",
        help="a run folder, a session log folder or a log root (default: the most recent "
        "session, GUI or headless)",
    )
    parser.add_argument("--process", help="only this process (camera, scanner, saver, main, ...)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    latest = None if args.dir else latest_logs()
    if args.dir:
        path = Path(args.dir)
    else:
        if latest is None:
            raise UsageError(f"no session logs yet (looked in {default_log_root()}, the recent "
                             "runs and ./runs); name a run folder or a log folder")  # fmt: skip
        path = latest
        sys.stderr.write(f"lightsheet logs: the most recent session, {path}\n")
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


def recent_runs_file() -> Path:
    """``$XDG_STATE_HOME/lightsheet/recent-runs.txt``: run folders, one per line, newest last."""
    return default_log_root().parent / RECENT_RUNS


def remember_run(folder: Path) -> None:
    """Note a headless run's folder so that ``lightsheet logs`` finds its logs later."""
    path = recent_runs_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        known = [line for line in _read_lines(path) if line != str(Path(folder).resolve())]
        known.append(str(Path(folder).resolve()))
        path.write_text("\n".join(known[-KEEP_RECENT:]) + "\n", encoding="utf-8")
    except OSError:
        pass  # a missing note only makes `lightsheet logs` look elsewhere


def latest_logs(cwd: Path | None = None) -> Path | None:
    """The log folder written to most recently among the candidates (see the module doc)."""
    newest: tuple[float, Path] | None = None
    for folder in _candidates(Path.cwd() if cwd is None else cwd):
        written = _last_written(folder)
        if written is not None and (newest is None or written > newest[0]):
            newest = (written, folder)
    return None if newest is None else newest[1]


def _candidates(cwd: Path) -> Iterator[Path]:
    session = latest_session_dir(default_log_root())
    if session is not None:
        yield session
    for line in _read_lines(recent_runs_file()):
        yield Path(line) / "logs"
    for parent in (cwd, cwd / "runs"):
        try:
            children = list(parent.iterdir())
        except OSError:
            continue
        yield from (child / "logs" for child in children if (child / "logs").is_dir())


def _last_written(folder: Path) -> float | None:
    try:
        entries = list(os.scandir(folder))
        times = [entry.stat().st_mtime for entry in entries if entry.name.endswith(".log")]
    except OSError:
        return None
    return max(times, default=None)


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []

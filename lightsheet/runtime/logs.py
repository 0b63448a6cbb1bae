"""Per-process log files, one folder per session, and the merged timeline an operator reads.

Every process writes its own file ``<session>/<process>.log``, so a crash in one never garbles
another's lines, and the timeline is rebuilt afterwards by merging the files on their timestamps.
One record per line::

    2026-11-22T01:23:45.123456Z camera INFO LOG message
        continuation lines of the same record (tracebacks) are indented by four spaces

Timestamps are UTC (the trailing ``Z``), so lines stay sortable as text across daylight-saving
changes and across processes. Session folder names (``YYYYMMDD-HHMMSS``) are in local time,
because an operator looks for a session by the time on the wall clock. The kind is LOG for
ordinary records; LoggedEvent and the control queues pass ``extra={"kind": "EVENT"|"QUEUE"}``,
and every command sent to a process and its reply is a CMD line (``lightsheet.runtime.commands``).
"""

from __future__ import annotations

import errno
import heapq
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

KINDS = ("LOG", "EVENT", "QUEUE", "CMD")
CONTINUATION = "    "
_SESSION_RE = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?$")
_RECORD_START_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_PROCESS_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_TIMESTAMP_CHARS = len("2026-11-22T01:23:45.123456Z")

_installed_handler: logging.Handler | None = None
_install_lock = threading.Lock()


# -- writing ---------------------------------------------------------------------------------


class LineFormatter(logging.Formatter):
    """``<UTC ISO time> <process> <LEVEL> <KIND> <message>``, continuation lines indented."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        first, *rest = text.splitlines() or [""]
        kind = getattr(record, "kind", "LOG")
        head = (
            f"{stamp.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z {self.process} "
            f"{record.levelname} {kind} {first}"
        )
        return "\n".join([head, *(CONTINUATION + line for line in rest)])


class LogFileHandler(logging.FileHandler):
    """A log file that cannot be written (a full disk) says so once, in one line, and drops the
    lines it cannot write instead of printing a traceback for each of them."""

    def handleError(self, record: logging.LogRecord) -> None:
        if getattr(self, "_reported", False):
            return
        self._reported = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or error
        sys.stderr.write(f"lightsheet: cannot write {self.baseFilename}: {reason}; "
                         "further log lines of this process are dropped\n")  # fmt: skip


def process_logger(process: str) -> logging.Logger:
    """The logger a process's own code writes to (its records go to that process's file)."""
    return logging.getLogger(f"lightsheet.process.{process}")


def setup_process_logging(process: str, session_dir: str | Path, level: str) -> logging.Logger:
    """Send every record of this process (root logger) to ``<session_dir>/<process>.log``.

    Called once per process: by each worker in its child and by the main process with "main".
    Calling it again replaces the file handler it installed before.
    """
    global _installed_handler
    if not _PROCESS_RE.match(process):
        raise ValueError(f"process name {process!r} must be letters, digits, '_', '-' or '.'")
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    handler = LogFileHandler(session_dir / f"{process}.log", mode="a", encoding="utf-8")
    handler.setFormatter(LineFormatter(process))
    handler.setLevel(level.upper())
    root = logging.getLogger()
    with _install_lock:
        if _installed_handler is not None:
            root.removeHandler(_installed_handler)
            _installed_handler.close()
        root.addHandler(handler)
        root.setLevel(level.upper())
        _installed_handler = handler
    logger = process_logger(process)
    logger.debug("logging to %s at level %s", handler.baseFilename, level.upper())
    return logger


def stop_process_logging() -> None:
    """Detach and close the file handler of setup_process_logging (a session ends)."""
    global _installed_handler
    with _install_lock:
        if _installed_handler is not None:
            logging.getLogger().removeHandler(_installed_handler)
            _installed_handler.close()
            _installed_handler = None


# -- session folders -------------------------------------------------------------------------


def default_log_root() -> Path:
    """``$XDG_STATE_HOME/lightsheet/logs``, by default ``~/.local/state/lightsheet/logs``."""
    state = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative path in the variable is invalid and must be ignored.
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "lightsheet" / "logs"


def new_session_dir(root: str | Path | None = None) -> Path:
    """Create ``<root>/<YYYYMMDD-HHMMSS>`` (local time); -2, -3... rather than reuse a folder."""
    root = Path(root) if root is not None else default_log_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, n = root / stamp, 1
    while True:
        try:
            candidate.mkdir()  # exclusive: two processes starting in the same second differ
            return candidate
        except FileExistsError:
            n += 1
            candidate = root / f"{stamp}-{n}"


def latest_session_dir(root: str | Path) -> Path | None:
    """The newest session folder under ``root``, or None when there is none."""
    root = Path(root)
    if not root.is_dir():
        return None
    sessions = []
    for child in root.iterdir():
        match = _SESSION_RE.match(child.name)
        if match and child.is_dir():
            sessions.append(((match.group(1), int(match.group(2) or 1)), child))
    return max(sessions)[1] if sessions else None


def resolve_session_dir(path: str | Path) -> Path:
    """A session folder from a session folder, a run folder (``logs/``) or a log root (newest)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(path))
    if _SESSION_RE.match(path.name) or any(path.glob("*.log")):
        return path
    if (path / "logs").is_dir():
        return path / "logs"
    latest = latest_session_dir(path)
    if latest is None:
        raise FileNotFoundError(errno.ENOENT, "no log files or session folders", str(path))
    return latest


# -- reading ---------------------------------------------------------------------------------


def _log_files(session: Path, process: str | None) -> list[Path]:
    files = sorted(session.glob("*.log"))
    return [f for f in files if process is None or f.stem == process]


def _record_key(record: str) -> str:
    """Sort key of a record: its timestamp, or "" for stray lines that do not start one."""
    return record[:_TIMESTAMP_CHARS] if _RECORD_START_RE.match(record) else ""


def _records(lines: Iterable[str]) -> Iterator[str]:
    """Group lines into records: a timestamped line plus the continuation lines that follow."""
    current: list[str] = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n"
        if current and _RECORD_START_RE.match(line):
            yield "".join(current)
            current = []
        current.append(line)
    if current:
        yield "".join(current)


def _file_records(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for record in _records(f):
            yield _record_key(record), record


def read_timeline(path: str | Path, process: str | None = None) -> Iterator[str]:
    """The records of a session's log files merged in time order, each ending with a newline.

    ``path`` is a session folder, a run folder holding ``logs/``, or a log root (its newest
    session). A multi-line record is yielded whole. Raises FileNotFoundError when nothing is there.
    """
    session = resolve_session_dir(path)
    files = _log_files(session, process)
    if not files:
        what = f"no log of process {process!r}" if process else "no log files"
        raise FileNotFoundError(errno.ENOENT, what, str(session))
    streams = [_file_records(f) for f in files]
    for _key, record in heapq.merge(*streams, key=lambda item: item[0]):
        yield record


class _Tail:
    """New complete records of one growing file, read from where the last poll stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""  # bytes after the last newline, not yet a whole line
        self.pending: str | None = None  # last record, may still get continuation lines

    def poll(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # truncated or replaced: start over
            self.offset, self.partial, self.pending = 0, b"", None
        data = b""
        if size > self.offset:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(size - self.offset)
            self.offset += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        text = data[:cut].decode("utf-8", errors="replace")
        if not text:
            # Quiet for a whole poll: the last record cannot be waiting for more lines.
            return self.flush()
        records = list(_records(text.splitlines(keepends=True)))
        if self.pending is not None:
            if _RECORD_START_RE.match(records[0]):
                records.insert(0, self.pending)
            else:
                records[0] = self.pending + records[0]
        self.pending = records.pop()
        return records

    def flush(self) -> list[str]:
        """The held-back last record, when no more lines will be read."""
        done, self.pending = ([self.pending] if self.pending else []), None
        return done


def follow_timeline(
    path: str | Path,
    process: str | None = None,
    poll_s: float = 0.2,
    stop: threading.Event | None = None,
) -> Iterator[str]:
    """Like read_timeline, then keep yielding records as the files grow until ``stop`` is set.

    Log files that appear later (a process started after the follow began) are picked up. Records
    read in the same poll are yielded in time order; a record is held back until its file has
    moved on or stayed quiet for one poll, so a long traceback is never split.
    """
    session = resolve_session_dir(path)
    stop = stop or threading.Event()
    tails: dict[Path, _Tail] = {}
    while True:
        stopping = stop.is_set()
        for f in _log_files(session, process):
            if f not in tails:
                tails[f] = _Tail(f)
        batch = [record for tail in tails.values() for record in tail.poll()]
        if stopping:
            batch += [record for tail in tails.values() for record in tail.flush()]
        batch.sort(key=_record_key)  # stable: one file's records keep their order
        yield from batch
        if stopping:
            return
        stop.wait(poll_s)

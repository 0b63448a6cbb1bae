"""Per-process log files, session folders and the merged timeline."""

from __future__ import annotations

import logging
import queue
import re
import threading
import types
from pathlib import Path

import pytest

from lightsheet.runtime import logs
from lightsheet.runtime.logs import (
    default_log_root,
    follow_timeline,
    latest_session_dir,
    new_session_dir,
    read_timeline,
    setup_process_logging,
    stop_process_logging,
)

LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (?P<process>\S+) (?P<level>[A-Z]+) "
    r"(?P<kind>LOG|EVENT|QUEUE) (?P<message>.*)$"
)


@pytest.fixture
def main_log(tmp_path: Path):
    root = logging.getLogger()
    level = root.level
    session = tmp_path / "session"
    setup_process_logging("main", session, "DEBUG")
    yield session / "main.log"
    stop_process_logging()
    root.setLevel(level)


def _line(stamp: str, process: str, message: str, level: str = "INFO") -> str:
    return f"2026-11-22T{stamp}Z {process} {level} LOG {message}\n"


def test_record_format_and_indented_traceback(main_log: Path) -> None:
    log = logging.getLogger("lightsheet.test")
    log.info("plain message")
    log.debug("queue traffic", extra={"kind": "QUEUE"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("it failed\nsecond line")
    stop_process_logging()

    lines = main_log.read_text().splitlines()
    heads = [LINE_RE.match(line) for line in lines if not line.startswith("    ")]
    assert all(heads), lines
    assert [(m["process"], m["level"], m["kind"], m["message"]) for m in heads][-3:] == [
        ("main", "INFO", "LOG", "plain message"),
        ("main", "DEBUG", "QUEUE", "queue traffic"),
        ("main", "ERROR", "LOG", "it failed"),
    ]
    continuation = lines[lines.index(next(x for x in lines if x.endswith("it failed"))) + 1 :]
    assert continuation[0] == "    second line"
    assert continuation[1] == "    Traceback (most recent call last):"
    assert continuation[-1] == "    RuntimeError: boom"
    assert all(line.startswith("    ") for line in continuation)


def test_setup_again_replaces_the_file_handler(main_log: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    setup_process_logging("main", other, "INFO")
    logging.getLogger("lightsheet.test").info("only in the new file")
    stop_process_logging()
    assert "only in the new file" in (other / "main.log").read_text()
    assert "only in the new file" not in main_log.read_text()


def test_bad_process_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="process name"):
        setup_process_logging("../escape", tmp_path, "INFO")


def test_default_log_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_log_root() == tmp_path / "state" / "lightsheet" / "logs"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/invalid")
    assert default_log_root() == tmp_path / "home" / ".local/state/lightsheet/logs"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_log_root() == tmp_path / "home" / ".local/state/lightsheet/logs"


def test_new_session_dir_never_reuses_a_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frozen = types.SimpleNamespace(strftime=lambda fmt: "20261122-012345")
    monkeypatch.setattr(logs, "time", frozen)
    made = [new_session_dir(tmp_path) for _ in range(3)]
    assert [p.name for p in made] == ["20261122-012345", "20261122-012345-2", "20261122-012345-3"]
    assert all(p.is_dir() for p in made)
    assert latest_session_dir(tmp_path) == made[-1]


def test_latest_session_dir_orders_suffixes_numerically(tmp_path: Path) -> None:
    for name in ("20261122-012345", "20261122-012345-2", "20261122-012345-10", "20261121-235959"):
        (tmp_path / name).mkdir()
    (tmp_path / "not-a-session").mkdir()
    assert latest_session_dir(tmp_path) == tmp_path / "20261122-012345-10"
    assert latest_session_dir(tmp_path / "missing") is None


def _write_session(session: Path) -> None:
    session.mkdir(parents=True)
    (session / "main.log").write_text(
        _line("01:00:00.000001", "main", "start")
        + _line("01:00:00.000300", "main", "camera failed", "ERROR")
        + "    Traceback (most recent call last):\n"
        + "    ValueError: bad\n"
    )
    (session / "camera.log").write_text(
        _line("01:00:00.000100", "camera", "open") + _line("01:00:00.000400", "camera", "closed")
    )
    (session / "saver.log").write_text(_line("01:00:00.000200", "saver", "ready"))


def test_timeline_is_time_ordered_across_files(tmp_path: Path) -> None:
    session = tmp_path / "20261122-010000"
    _write_session(session)
    records = list(read_timeline(session))
    assert [r.split(" ", 4)[-1].splitlines()[0] for r in records] == [
        "start",
        "open",
        "ready",
        "camera failed",
        "closed",
    ]
    assert records[3].endswith("    Traceback (most recent call last):\n    ValueError: bad\n")


def test_timeline_filters_by_process(tmp_path: Path) -> None:
    session = tmp_path / "20261122-010000"
    _write_session(session)
    records = list(read_timeline(session, process="camera"))
    assert [r.split()[1] for r in records] == ["camera", "camera"]
    with pytest.raises(FileNotFoundError):
        list(read_timeline(session, process="scanner"))


def test_timeline_resolves_run_folder_and_log_root(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_session(run / "logs")
    assert len(list(read_timeline(run))) == 5

    root = tmp_path / "root"
    _write_session(root / "20261122-010000")
    (root / "20261122-020000").mkdir()
    (root / "20261122-020000" / "main.log").write_text(_line("02:00:00.000000", "main", "newer"))
    assert [r.split()[-1] for r in read_timeline(root)] == ["newer"]

    empty = tmp_path / "empty-root"
    empty.mkdir()
    with pytest.raises(FileNotFoundError):
        list(read_timeline(empty))


def test_follow_yields_growth_and_files_that_appear_later(tmp_path: Path) -> None:
    session = tmp_path / "20261122-010000"
    session.mkdir()
    (session / "main.log").write_text(_line("01:00:00.000000", "main", "first"))
    stop = threading.Event()
    seen: queue.Queue[str] = queue.Queue()

    def consume() -> None:
        for record in follow_timeline(session, poll_s=0.02, stop=stop):
            seen.put(record)

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        assert "first" in seen.get(timeout=5)
        with (session / "main.log").open("a") as f:
            f.write(_line("01:00:01.000000", "main", "grew") + "    with a continuation\n")
        assert seen.get(timeout=5).endswith("grew\n    with a continuation\n")
        (session / "camera.log").write_text(_line("01:00:02.000000", "camera", "late file"))
        assert "camera INFO LOG late file" in seen.get(timeout=5)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert seen.empty()


def test_follow_filters_by_process(tmp_path: Path) -> None:
    session = tmp_path / "20261122-010000"
    _write_session(session)
    stop = threading.Event()
    stop.set()  # one pass over what is there, then return
    records = list(follow_timeline(session, process="saver", stop=stop))
    assert records == [_line("01:00:00.000200", "saver", "ready")]

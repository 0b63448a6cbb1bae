"""LoggedEvent: the sender logs set/clear, a receiver logs each change it notices, per process."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.logs import setup_process_logging, stop_process_logging
from lightsheet.runtime.supervisor import Supervisor
from tests.runtime.procs import assert_no_leftovers, wait_until
from tests.runtime.workers import EventWatcher


def _event_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "kind", None) == "EVENT"]


def test_sender_logs_every_change_and_receiver_only_news(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="lightsheet.runtime.events")
    event = LoggedEvent("acquire")
    assert not event.is_set()  # clear, as every process first assumes: nothing to report
    assert not event.wait(0)
    event.set()
    assert event.is_set()  # the sender's own change is not news
    event.clear()
    assert _event_lines(caplog) == ["event acquire set", "event acquire cleared"]


def test_receiver_logs_when_it_sees_a_change() -> None:
    sender = LoggedEvent("stop")
    # A receiver elsewhere sees the same underlying event with its own memory of what it saw.
    receiver = LoggedEvent.__new__(LoggedEvent)
    receiver.__setstate__(sender.__getstate__())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log = logging.getLogger("lightsheet.runtime.events")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        sender.set()
        assert receiver.wait(1)
        assert receiver.is_set()
        sender.clear()
        assert not receiver.is_set()
        assert not receiver.wait(0)
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    assert [r.getMessage() for r in records] == [
        "event stop set",
        "event stop seen set (wait)",
        "event stop cleared",
        "event stop seen clear (is_set)",
    ]
    assert all(r.kind == "EVENT" for r in records)


@pytest.fixture
def session(tmp_path: Path):
    root = logging.getLogger()
    level = root.level
    setup_process_logging("main", tmp_path, "INFO")
    yield tmp_path
    stop_process_logging()
    root.setLevel(level)


def test_each_process_logs_what_it_saw_in_its_own_file(session: Path) -> None:
    watcher = EventWatcher("watcher", session)
    supervisor = Supervisor([watcher], heartbeat_timeout_s=10.0)
    supervisor.start()
    try:
        assert supervisor.wait_running(timeout=30)
        watcher.trigger.set()
        wait_until(lambda: watcher.seen.value == 1, timeout=10)
    finally:
        supervisor.stop()
    assert supervisor.fault is None
    assert_no_leftovers([watcher.pid])

    main = (session / "main.log").read_text()
    child = (session / "watcher.log").read_text()
    assert " main INFO EVENT event rtest.trigger set\n" in main
    assert " watcher INFO EVENT event rtest.trigger seen set (wait)\n" in child
    assert "rtest.trigger set\n" not in child  # the child only observed it
    assert "rtest.trigger seen" not in main  # the parent only set it
    # The stop event: set by the main process, noticed by the child.
    assert " main INFO EVENT event watcher.stop set\n" in main
    assert " watcher INFO EVENT event watcher.stop seen set " in child

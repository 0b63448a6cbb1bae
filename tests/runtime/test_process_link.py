"""Numbered messages to a real child and its answers: states, commands, refusals, notices."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lightsheet.runtime.commands import CommandFailed
from lightsheet.runtime.process_link import ProcessLink
from tests.runtime.procs import wait_until
from tests.runtime.workers import CommandWorker


@pytest.fixture
def linked(tmp_path: Path):
    notices: list[object] = []
    worker = CommandWorker("alpha", tmp_path)
    worker.start()
    link: ProcessLink[int, str] = ProcessLink(worker, on_notice=lambda p, m: notices.append(m))
    link.start()
    yield worker, link, notices
    link.stop()
    # In a thread: a child killed while holding its stop event's lock would block set() forever.
    threading.Thread(target=worker.request_stop, daemon=True).start()
    if not worker.join(10):
        worker.kill()


def test_a_state_is_acknowledged_with_the_handlers_answer(linked) -> None:
    worker, link, _ = linked
    assert link.set_state(4) == 40
    assert worker.applied.value == 4


def test_an_older_state_is_answered_by_the_newer_one_that_replaced_it(linked) -> None:
    worker, link, _ = linked
    pending = [link.post_state(value) for value in range(50)]
    assert [p.wait(10) for p in pending][-1] == 490
    assert worker.applied.value == 49
    assert worker.settings_calls.value < 50  # some were skipped, all were answered


def test_commands_run_in_order_and_a_refusal_carries_the_childs_reason(linked) -> None:
    _, link, _ = linked
    assert [link.send(c) for c in ("a", "b")] == ["did a", "did b"]
    with pytest.raises(CommandFailed, match="refused: the shutter is jammed"):
        link.send("refuse")
    assert link.send("c") == "did c"  # the child went on


def test_a_deferred_command_is_answered_later_and_a_notice_is_delivered(linked) -> None:
    _, link, notices = linked
    assert link.send("later") == "done later"
    link.send("notice")
    wait_until(lambda: notices == [("hello", "alpha")], timeout=5)


def test_a_large_answer_arrives_whole(linked) -> None:
    _, link, _ = linked
    assert link.send("big").size == 200_000


def test_waiting_on_a_dead_child_fails_at_once_with_the_reason(linked) -> None:
    worker, link, _ = linked
    link.send("warm-up")
    os.kill(worker.pid, signal.SIGSTOP)
    pending = link.post("a")
    os.kill(worker.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(CommandFailed, match="has exited"):
        pending.wait(30)
    assert time.monotonic() - started < 5


def test_every_send_and_answer_is_in_both_logs(linked, tmp_path: Path, caplog) -> None:
    _, link, _ = linked
    with caplog.at_level("INFO", logger="lightsheet.runtime.link"):
        link.send("x")
    sent = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("→ alpha command #") and "'x'" in m for m in sent), sent
    assert any(m.startswith("← alpha command #") and " ok (" in m for m in sent), sent
    child = (tmp_path / "alpha.log").read_text()
    assert "CMD received command #1 'x'" in child and "CMD answered command #1 ok" in child


def test_a_child_with_an_unread_large_reply_still_exits_at_once(tmp_path: Path) -> None:
    worker = CommandWorker("beta", tmp_path)
    worker.start()
    link: ProcessLink[int, str] = ProcessLink(worker)  # nobody reads its outbox
    link.post("big")
    log = tmp_path / "beta.log"
    wait_until(lambda: log.exists() and "answered command #1" in log.read_text(), 30)
    worker.request_stop()
    assert worker.join(5), "the exit waited on the unread reply"
    assert worker.exitcode == 0
    threading.Thread(target=link.stop).start()

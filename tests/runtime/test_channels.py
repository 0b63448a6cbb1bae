"""SettingsChannel (latest wins) and LoggedQueue (every message, logged as QUEUE)."""

from __future__ import annotations

import logging
import queue
import threading

import pytest

from lightsheet.runtime.channels import LoggedQueue, SettingsChannel


def _queue_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "kind", None) == "QUEUE"]


def test_settings_receiver_gets_only_the_newest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lightsheet.runtime.channels")
    channel = SettingsChannel("camera.settings")
    assert not channel.poll()
    for value in ({"exposure_ms": 1}, {"exposure_ms": 2}, {"exposure_ms": 3}):
        channel.put(value)
    assert channel.poll()
    assert channel.take() == {"exposure_ms": 3}
    assert not channel.poll()
    with pytest.raises(queue.Empty):
        channel.take()
    messages = _queue_records(caplog)
    assert sum("put" in m for m in messages) == 3
    assert any("#3 taken (2 older skipped)" in m for m in messages)


def test_settings_take_returns_a_value_put_from_another_thread() -> None:
    channel = SettingsChannel("scanner.settings")
    sender = threading.Thread(target=lambda: [channel.put(i) for i in range(50)])
    sender.start()
    sender.join()
    assert channel.take() == 49


def test_unpicklable_settings_fail_in_the_sender() -> None:
    channel = SettingsChannel("camera.settings")
    with pytest.raises((TypeError, AttributeError)):
        channel.put(lambda: None)
    assert not channel.poll()


def test_logged_queue_keeps_every_message_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lightsheet.runtime.channels")
    q = LoggedQueue("commands")
    q.put("start")
    q.put_nowait("stop")
    assert q.get(timeout=5) == "start"
    assert q.get(timeout=5) == "stop"
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.close()
    assert _queue_records(caplog) == [
        "queue commands put: 'start'",
        "queue commands put: 'stop'",
        "queue commands got: 'start'",
        "queue commands got: 'stop'",
    ]


def test_logged_queue_bounds_long_messages_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lightsheet.runtime.channels")
    q = LoggedQueue("bulk")
    q.put("x" * 10_000)
    assert q.get(timeout=5) == "x" * 10_000
    q.close()
    (put, _got) = _queue_records(caplog)
    assert len(put) < 300 and put.endswith("(10002 chars)")

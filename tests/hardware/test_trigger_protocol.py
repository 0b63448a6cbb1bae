"""The trigger line protocol: what the device may send, what we send, and line framing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightsheet.hardware.trigger.lines import (
    MAX_DURATION_S,
    MAX_LINE_BYTES,
    MIN_DURATION_S,
    Abort,
    Duration,
    LineSplitter,
    LogThrottle,
    Trigger,
    format_armed,
    format_started,
    format_stopped,
    format_trigger,
    parse_device_line,
    why_invalid,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"TRIGGER", Trigger(None)),
        (b"TRIGGER 2.5", Trigger(2.5)),
        (b"TRIGGER 10", Trigger(10.0)),
        (b"TRIGGER 1e3", Trigger(1000.0)),
        (b"TRIGGER 1.5E+1", Trigger(15.0)),
        (b"TRIGGER .5", Trigger(0.5)),
        (b"TRIGGER 5.", Trigger(5.0)),
        (b"TRIGGER 0.001", Trigger(0.001)),
        (b"TRIGGER 604800", Trigger(MAX_DURATION_S)),
        (b"TRIGGER 2.5\n", Trigger(2.5)),
        (b"TRIGGER 2.5\r\n", Trigger(2.5)),
        (b"TRIGGER\t2.5", Trigger(2.5)),
        (b"  TRIGGER   2.5  ", Trigger(2.5)),
        (b"ABORT", Abort()),
        (b"ABORT\r\n", Abort()),
        (b"DURATION 3", Duration(3.0)),
        (b"DURATION 0.25", Duration(0.25)),
    ],
)
def test_valid_device_lines_parse(line: bytes, expected: object) -> None:
    assert parse_device_line(line) == expected
    assert why_invalid(line) == ""


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"   ",
        b"\r\n",
        b"TRIGGER soon",
        b"TRIGGER 5 extra",
        b"TRIGGER 2.5 2.5",
        b"trigger",
        b"Trigger 2",
        b"TRIGGER -1",
        b"TRIGGER 0",
        b"TRIGGER 0.0",
        b"TRIGGER 1e-9",
        b"TRIGGER nan",
        b"TRIGGER NaN",
        b"TRIGGER inf",
        b"TRIGGER -inf",
        b"TRIGGER 1e400",
        b"TRIGGER 1e9",
        b"TRIGGER " + b"9" * 40,
        b"TRIGGER 0x10",
        b"TRIGGER 1_000",
        b"TRIGGER +5",
        b"TRIGGER 5s",
        b"TRIGGER 2,5",
        b"TRIGGER 1e",
        b"TRIGGER .",
        "TRIGGER ٣".encode(),  # an Arabic-Indic digit: float() would take it
        b"TRIGGER \xff",
        b"\xff\xfe\xfd",
        b"TRIG\x00GER",
        b"TRIGGER\x1b[2J",
        b"TRIGGER 2.5\r\r",
        b"ABORT now",
        b"ABORT 1",
        b"DURATION",
        b"DURATION 1 2",
        b"DURATION -3",
        b"DURATION 0",
        b"HELLO",
        b"ARMED",
        b"STARTED 0",
        b"TRIGGER " + b"1" * MAX_LINE_BYTES,
    ],
)
def test_invalid_device_lines_are_refused_with_a_reason(line: bytes) -> None:
    assert parse_device_line(line) is None
    assert why_invalid(line) != ""


def test_reasons_name_the_problem() -> None:
    assert "case-sensitive" in why_invalid(b"trigger 2")
    assert "unknown command" in why_invalid(b"HELLO")
    assert "got 2" in why_invalid(b"TRIGGER 5 extra")
    assert "maximum" in why_invalid(b"TRIGGER 1e9")
    assert "minimum" in why_invalid(b"TRIGGER 0")
    assert "non-ASCII" in why_invalid(b"TRIGGER \xff")
    assert "empty" in why_invalid(b"")


@given(st.floats(min_value=MIN_DURATION_S, max_value=MAX_DURATION_S))
def test_any_duration_in_range_round_trips(duration_s: float) -> None:
    assert parse_device_line(b"TRIGGER %s" % repr(duration_s).encode()) == Trigger(duration_s)
    assert parse_device_line(b"DURATION %s" % repr(duration_s).encode()) == Duration(duration_s)


def test_outgoing_lines_are_exact() -> None:
    assert format_armed() == b"ARMED\n"
    assert format_started(0) == b"STARTED 0\n"
    assert format_stopped(12) == b"STOPPED 12\n"
    assert format_trigger(123456789) == b"TRIGGER 123456789\n"


@pytest.mark.parametrize("value", [-1, 1.5, True, "3", None])
def test_outgoing_counts_must_be_non_negative_integers(value: object) -> None:
    for formatter in (format_started, format_stopped, format_trigger):
        with pytest.raises(ValueError):
            formatter(value)  # type: ignore[arg-type]


def test_splitter_joins_lines_across_reads_and_accepts_crlf() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"TRIG") == []
    assert splitter.feed(b"GER 2.5\r") == []
    assert splitter.feed(b"\nABORT\r\nDURA") == [b"TRIGGER 2.5", b"ABORT"]
    assert splitter.feed(b"TION 1\n") == [b"DURATION 1"]
    assert splitter.pending_bytes == 0


def test_splitter_drops_an_over_long_line_up_to_its_newline_and_keeps_the_next() -> None:
    splitter = LineSplitter(max_line_bytes=16)
    assert splitter.feed(b"x" * 10) == []
    assert splitter.feed(b"y" * 10) == []
    assert splitter.discarded_lines == 1
    assert splitter.pending_bytes == 0
    assert splitter.feed(b"z" * 1000) == []
    assert splitter.feed(b"still the same line\nABORT\n") == [b"ABORT"]
    assert splitter.discarded_lines == 1
    assert splitter.feed(b"w" * 17 + b"\n" + b"v" * 16 + b"\r\n") == [b"v" * 16]
    assert splitter.discarded_lines == 2


def test_splitter_reset_forgets_a_partial_line() -> None:
    splitter = LineSplitter()
    splitter.feed(b"TRIGGER 9")
    splitter.reset()
    assert splitter.feed(b"ABORT\n") == [b"ABORT"]


@settings(max_examples=300)
@given(
    chunks=st.lists(st.binary(max_size=600), max_size=30),
    max_line_bytes=st.integers(min_value=1, max_value=300),
)
def test_arbitrary_bytes_never_raise_and_memory_stays_bounded(
    chunks: list[bytes], max_line_bytes: int
) -> None:
    splitter = LineSplitter(max_line_bytes=max_line_bytes)
    for chunk in chunks:
        for line in splitter.feed(chunk):
            assert b"\n" not in line
            assert len(line) <= max_line_bytes
            message = parse_device_line(line)
            assert (message is None) == (why_invalid(line) != "")
        assert splitter.pending_bytes <= max_line_bytes + 1


@settings(max_examples=200)
@given(
    garbage=st.binary(max_size=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=10),
)
def test_a_valid_line_after_garbage_is_recovered_however_the_bytes_arrive(
    garbage: bytes, cuts: list[int]
) -> None:
    stream = garbage + b"\nTRIGGER 2.5\r\n"
    bounds = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    splitter = LineSplitter()
    messages = []
    for start, end in itertools.pairwise(bounds):
        messages.extend(
            message
            for message in map(parse_device_line, splitter.feed(stream[start:end]))
            if message is not None
        )
    assert messages[-1] == Trigger(2.5)


def test_log_throttle_writes_the_first_events_then_a_sample() -> None:
    throttle = LogThrottle(first=3, every=10)
    logged = [count for count in range(1, 31) if throttle.should_log()]
    assert logged == [1, 2, 3, 10, 20, 30]

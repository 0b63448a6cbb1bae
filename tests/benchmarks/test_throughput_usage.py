"""Bad arguments to ``throughput.py`` are refused before any run starts (exit 2, one line)."""

from __future__ import annotations

import pytest

from benchmarks.throughput import _parse_args


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--rates", "abc"], "not a comma-separated list"),
        (["--rates", "100,-5"], "positive"),
        (["--seconds", "0"], "positive number of seconds"),
        (["--seconds", "abc"], "positive number of seconds"),
        (["--refine", "-1"], "bisection steps"),
        (["--refine", "two"], "bisection steps"),
        (["--sink", "floppy"], "invalid choice"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2(argv, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        _parse_args(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert says in error and "Traceback" not in error


def test_no_refinement_is_a_choice():
    assert _parse_args(["--refine", "0"]).refine == 0

"""Bad arguments to ``throughput.py`` and ``soak.py`` are refused before any run starts: exit 2
and one line that says what was wanted (``lightsheet.cli.parser``, as the CLI's own)."""

from __future__ import annotations

import pytest

from benchmarks import soak, throughput

THROUGHPUT = throughput._parse_args
SOAK = soak._parse_args


@pytest.mark.parametrize(
    ("parse", "argv", "says"),
    [
        (THROUGHPUT, ["--rates", "abc"], "not a comma-separated list"),
        (THROUGHPUT, ["--rates", "100,-5"], "positive"),
        (THROUGHPUT, ["--seconds", "0"], "must be a positive finite number, got 0"),
        (THROUGHPUT, ["--seconds", "abc"], "expected a number, got 'abc'"),
        (THROUGHPUT, ["--refine", "-1"], "bisection steps"),
        (THROUGHPUT, ["--refine", "two"], "bisection steps"),
        (THROUGHPUT, ["--sink", "floppy"], "invalid choice"),
        (THROUGHPUT, ["--frame-ring-mb", "0"], "must be a positive finite number, got 0"),
        (SOAK, ["--rate", "abc"], "expected a number, got 'abc'"),
        (SOAK, ["--rate", "-5"], "must be a positive finite number, got -5"),
        (SOAK, ["--minutes", "nan"], "must be a positive finite number, got nan"),
        (SOAK, ["--raw-minutes", "-1", "--rate", "10"], "--raw-minutes must be 0 or more"),
        (SOAK, ["--raw-minutes", "abc", "--rate", "10"], "--raw-minutes: invalid float value"),
        (SOAK, ["--rate", "10", "--compression", "zip"], "invalid choice: 'zip'"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2(parse, argv, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert says in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1  # the one line that matters, not the usage


def test_no_refinement_is_a_choice():
    assert THROUGHPUT(["--refine", "0"]).refine == 0


def test_the_frame_ring_asked_for_reaches_every_run():
    options = throughput._options(THROUGHPUT(["--frame-ring-mb", "2560"]), watch_preview=True)
    assert options.frame_ring_mb == 2560 and options.watch_preview
    assert throughput._options(THROUGHPUT([])).frame_ring_mb is None  # the config's default

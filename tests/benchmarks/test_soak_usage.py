"""Bad arguments to ``soak.py`` are refused before the soak starts (exit 2, one clear line)."""

from __future__ import annotations

import pytest

from benchmarks.soak import _parse_args


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--rate", "abc"], "must be a positive number: abc"),
        (["--rate", "-5"], "must be a positive number: -5"),
        (["--minutes", "nan"], "must be a positive number: nan"),
        (["--raw-minutes", "-1", "--rate", "10"], "--raw-minutes must be 0 or more"),
        (["--raw-minutes", "abc", "--rate", "10"], "--raw-minutes must be 0 or more"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2(argv, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        _parse_args(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert says in error and "Traceback" not in error

"""Argument parsing that reports bad usage as one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from lightsheet.cli.exit_codes import ExitCode


class UsageError(Exception):
    """Bad command-line usage or input, reported as one line with exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block on error; operators need the one line that matters."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(ExitCode.BAD_INPUT)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value

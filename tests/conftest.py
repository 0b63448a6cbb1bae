"""What the whole suite needs before any test runs.

A shell starts a background job (`make test &`, a CI script's `cmd &`) with SIGINT ignored, and
Python keeps that: the Ctrl-C tests, and the CLI processes they interrupt (an ignored signal is
inherited across exec), would then see nothing and fail. The suite puts Python's own handler
back first; a handler, unlike an ignored signal, is not inherited by the processes it starts.
"""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

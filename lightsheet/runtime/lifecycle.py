"""The phases a worker goes through, and the two ways it can end that are not a clean stop."""

from __future__ import annotations

import enum


class Phase(enum.IntEnum):
    NEW = 0  # started, interpreter and imports not done yet
    SETUP = 1
    RUNNING = 2
    STOPPING = 3  # teardown
    DONE = 4


class WorkerFailure(Exception):
    """A failure the worker understands (a disk full, a device unplugged): its message alone is
    the fault's reason, logged without a traceback."""


class WorkerTerminated(BaseException):
    """Raised by SIGTERM in a worker's main thread so that setup or step unwind and teardown runs.

    A BaseException, so that a step's ``except Exception`` cannot swallow it.
    """

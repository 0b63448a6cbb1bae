"""What the app layer raises to its callers: a refusal of bad input, or a failure of the rig.

Both the CLI (exit 2 for a refusal, 1 for a failure) and the GUI (a message at the field, a
fault dialog) tell them apart by type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lightsheet.app.scan_plan import ScanConfigError
from lightsheet.app.trigger_link import TriggerPortUnusable
from lightsheet.runtime.commands import CommandFailed


class SessionError(Exception):
    """The session could not do what was asked; the message says why."""


class SessionConfigError(SessionError):
    """What was asked cannot run on this rig (bad input, not a fault): nothing was started."""


@contextmanager
def refused_as_bad_input(prefix: str = "") -> Iterator[None]:
    """A scan or port the rig cannot use is the operator's input, not a fault."""
    try:
        yield
    except (ScanConfigError, TriggerPortUnusable) as exc:
        raise SessionConfigError(f"{prefix}{exc}") from None


@contextmanager
def process_failures() -> Iterator[None]:
    """A process that refused a command, died or did not answer: a SessionError with its reason."""
    try:
        yield
    except CommandFailed as exc:
        raise SessionError(str(exc)) from None

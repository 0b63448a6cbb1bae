"""Ctrl-C and SIGTERM on the command line: one clean stop, whatever moment they come at.

The first interrupt stops the run (every frame acquired is saved); while the files close and the
processes stop, further interrupts are noted and ignored, so a second Ctrl-C can never leave a
run half written or its metadata saying "running".
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from lightsheet.storage.metadata import (
    STOP_REASON_RUNNING,
    now_iso,
    read_metadata,
    write_metadata,
)

log = logging.getLogger("lightsheet.cli")


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Inside: SIGINT and SIGTERM are logged and otherwise ignored (a stop is already under way)."""

    def note(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.warning("%s while stopping: ignored, the data is being saved", name)
        sys.stderr.write("lightsheet: already stopping, saving what was acquired...\n")

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: stop the way Ctrl-C does."""
    raise KeyboardInterrupt


def mark_interrupted(folder: Path, fresh: dict[str, object]) -> None:
    """The run was interrupted before it existed (during start-up): its metadata says so.

    ``fresh`` is the metadata written where the folder has none yet. A run whose metadata
    already tells how it ended keeps it: the interrupt came after its end. Further interrupts
    are deferred meanwhile, so none can leave the file half written.
    """
    with deferred_interrupts():
        try:
            metadata = read_metadata(folder)
        except (FileNotFoundError, ValueError):
            metadata = {**fresh, "start_time": None}
        reason = metadata.get("stop_reason", STOP_REASON_RUNNING)
        if reason not in (STOP_REASON_RUNNING, "interrupted"):
            return
        metadata.update(stop_reason="interrupted", stop_time=now_iso())
        metadata.setdefault("volumes_saved", 0)
        try:
            write_metadata(folder, metadata)
        except OSError as exc:
            log.error("could not write the metadata of %s: %s", folder, exc)

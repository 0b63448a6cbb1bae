"""Ctrl-C held back while a child process is spawned, or a shared-memory block is made and kept.

Starting a ``spawn`` child writes its pickled start-up data into a pipe after the child exists.
A ``KeyboardInterrupt`` in the middle of that write leaves a child that reads half its data and
prints ``EOFError: Ran out of input`` with a traceback on the operator's terminal.

Blocking SIGINT in the starting thread alone is not enough: the kernel then delivers the signal to
any other thread (a log listener, a router), Python's handler notes it there, and the main thread
raises at its next bytecode, inside the write. So both are done here: the mask, which the child
inherits through exec and keeps until its own handler is set (an interpreter still importing must
not see Ctrl-C), and a Python handler that only notes the signal; the noted Ctrl-C is raised again
when the child is fully started.

The pipeline holds it too while it makes each block and keeps it for its ``close``
(``app/pipeline.py``), and so do the processing pool and engine for their shared arrays and job
block (``processing/shared_array.held_shared_array``, ``processing/pool.py``): a block made but
not yet kept belonged to nobody, and a Ctrl-C landing there left it in /dev/shm.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold SIGINT for the duration of the block; one that came meanwhile is raised at its end."""
    noted: list[int] = []
    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = None
    if in_main:

        def note(signum: int, _frame: FrameType | None) -> None:
            noted.append(signum)

        previous_handler = signal.signal(signal.SIGINT, note)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        if in_main:
            signal.signal(signal.SIGINT, previous_handler)
            if noted:
                signal.raise_signal(signal.SIGINT)  # now handled as the caller would have

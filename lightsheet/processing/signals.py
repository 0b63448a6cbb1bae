"""Keeping Ctrl-C away from worker processes.

A terminal delivers Ctrl-C (SIGINT) to every process of the foreground group, so workers that a
job started would each raise KeyboardInterrupt in the middle of an item, and print tracebacks,
while the main process is cancelling cleanly. Processes started inside `children_ignore_ctrl_c`
never see it: an ignored signal stays ignored across exec, and Python (and asyncio) then install
no handler of their own. The price: a Ctrl-C pressed while the block runs (the workers' start:
well under a second for the pool, about two seconds for a dask LocalCluster) is ignored by this
process too, as the kernel may hand it to any of its threads.

Signal dispositions can only be changed from the main thread; elsewhere (the GUI's job thread)
this does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

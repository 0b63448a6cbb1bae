"""Ctrl-C during a child's start is held back whole, even when another thread takes the signal."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lightsheet.runtime.ctrl_c import ctrl_c_held


def test_a_ctrl_c_taken_by_another_thread_waits_for_the_end_of_the_block() -> None:
    # A thread that does not block SIGINT: the kernel hands it the signal meanwhile.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    reached_end = False
    try:
        with pytest.raises(KeyboardInterrupt), ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            # The other thread is woken to take the signal: a plain KeyboardInterrupt would
            # cut in at the first bytecode after this, still inside the block.
            time.sleep(0.2)
            reached_end = True
    finally:
        stop.set()
        other.join()
    assert reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_ctrl_c_nothing_is_raised_and_the_mask_is_restored() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    with ctrl_c_held():
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

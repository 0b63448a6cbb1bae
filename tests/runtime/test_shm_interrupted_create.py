"""A block being created when Ctrl-C comes is removed, not left for the resource tracker.

Allocating a ring's pages takes a noticeable time (640 MB for the default frame ring): an
interrupt then escaped ``create_block`` with the block made and nobody owning it, and Python's
resource tracker later removed it with a "leaked shared_memory objects" warning on stderr.
"""

from __future__ import annotations

import pytest

from lightsheet.processes.frames import FRAME_META
from lightsheet.runtime import shm
from lightsheet.runtime.preview import PreviewBuffer
from lightsheet.runtime.ring import Ring


def interrupt(*_: object, **__: object) -> None:
    raise KeyboardInterrupt


def test_an_interrupt_while_the_pages_are_allocated_leaves_no_block(monkeypatch) -> None:
    before = set(shm.list_blocks())
    monkeypatch.setattr(shm, "_map_every_page", interrupt)
    with pytest.raises(KeyboardInterrupt):
        shm.create_block("tinterrupt", "0", 1 << 20, allocate=True)
    assert set(shm.list_blocks()) == before


def test_an_interrupt_after_a_rings_block_was_made_leaves_no_block(monkeypatch) -> None:
    before = set(shm.list_blocks())
    monkeypatch.setattr(Ring, "__init__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        Ring.create("tinterrupt", (64,), "<u2", 4, FRAME_META, blocking=False)
    assert set(shm.list_blocks()) == before


def test_an_interrupt_after_the_preview_block_was_made_leaves_no_block(monkeypatch) -> None:
    before = set(shm.list_blocks())
    monkeypatch.setattr(PreviewBuffer, "__init__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        PreviewBuffer.create("tinterrupt", 64, 16, "<u2")
    assert set(shm.list_blocks()) == before

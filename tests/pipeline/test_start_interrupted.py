"""A Ctrl-C that lands just as a shared-memory block is made: no block outlives the start.

``create_block`` and ``Ring.create`` remove a block whose making is interrupted; the pipeline
closes every block it holds when its start fails. Between the two, a block returned but not yet
held by the pipeline was owned by nobody: ``test_ctrl_c_while_the_processes_start`` found one
left once (the frame ring) in a full run. Here the Ctrl-C is a real SIGINT, raised the moment the
first ring exists.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from lightsheet.app.pipeline import Pipeline
from lightsheet.runtime.ring import Ring
from lightsheet.runtime.shm import list_blocks, owner_pid
from tests.pipeline.rigs import small_rig


def test_a_ctrl_c_as_the_first_ring_is_made_leaves_no_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real_create = Ring.create.__func__  # type: ignore[attr-defined]

    def create_then_ctrl_c(cls: type[Ring], *args: Any, **kwargs: Any) -> Ring:
        ring = real_create(cls, *args, **kwargs)
        made.append(ring.spec.shm_name)
        signal.raise_signal(signal.SIGINT)  # Python raises KeyboardInterrupt here, at once
        return ring

    monkeypatch.setattr(Ring, "create", classmethod(create_then_ctrl_c))
    pipeline = Pipeline(small_rig(4), tmp_path / "logs", lambda fault: None, lambda notice: None)
    with pytest.raises(KeyboardInterrupt):
        pipeline.start()
    assert made, "the interrupt came after the first ring was made"
    assert [b for b in list_blocks() if owner_pid(b) == os.getpid()] == []

"""A Ctrl-C that lands just as a shared array's block is made: no block outlives the run.

A block made but not yet held by its owner (the engine's stack of arrays, the pool's status
array) belonged to nobody: Python's resource tracker removed it only at exit, with a "leaked
shared_memory objects" warning on the operator's terminal. Here the Ctrl-C is a real SIGINT,
raised the moment a block exists; ``conftest.no_blocks_left`` checks that none is left.
"""

from __future__ import annotations

import signal
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from lightsheet.postprocess import ProcessOptions, process_run
from lightsheet.processing import pool_worker, shared_array
from tests.processing import workfuncs
from tests.processing.runs import write_run


def ctrl_c_at_block(
    monkeypatch: pytest.MonkeyPatch, purpose: str, maker: ModuleType = shared_array
) -> list[str]:
    """From now on, a real SIGINT is raised as soon as ``maker`` makes a block for ``purpose``."""
    made: list[str] = []
    real_create = maker.create_block

    def create_then_ctrl_c(what: str, *args: Any, **kwargs: Any) -> Any:
        block = real_create(what, *args, **kwargs)
        if what == purpose:
            made.append(block.name)
            signal.raise_signal(signal.SIGINT)  # Python raises KeyboardInterrupt here, at once
        return block

    monkeypatch.setattr(maker, "create_block", create_then_ctrl_c)
    return made


@pytest.mark.parametrize("purpose", ["stack", "present"])
def test_a_ctrl_c_as_the_engine_makes_an_array_interrupts_the_run_and_leaves_no_block(
    tmp_path, pool, monkeypatch, purpose
):
    write_run(tmp_path / "raw")
    made = ctrl_c_at_block(monkeypatch, purpose)
    options = ProcessOptions(tmp_path / "raw", tmp_path / "out", max_projection=True)
    outcome = process_run(options, pool=pool)
    assert made, "the interrupt came after the block was made"
    assert outcome.status == "interrupted"


@pytest.mark.parametrize(("purpose", "maker"), [("status", shared_array), ("job", pool_worker)])
def test_a_ctrl_c_as_the_pool_makes_a_block_leaves_none(pool, monkeypatch, purpose, maker):
    """The status array every call has, and the block that carries the job to the workers."""
    with shared_array.create_shared_array((8, 4), np.float32, "data") as data:
        made = ctrl_c_at_block(monkeypatch, purpose, maker)
        with pytest.raises(KeyboardInterrupt):
            pool.run_in_place(workfuncs.slow_double, [data], {"delay_s": 0.0})
    assert made, "the interrupt came after the block was made"

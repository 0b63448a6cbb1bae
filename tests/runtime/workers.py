"""Small workers for the runtime tests; module-level so spawned children can import them.

Each exposes what it did through spawn-shared values, so a test reads the child's behaviour
directly instead of inferring it from timing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from typing import Any

from lightsheet.runtime.commands import DEFERRED, CommandRefused
from lightsheet.runtime.events import LoggedEvent
from lightsheet.runtime.shm import create_block, release_block
from lightsheet.runtime.worker import Worker

# Shared-memory purpose of every block these workers own; one per pytest-xdist worker, so that
# the leftover checks of two test processes running side by side do not see each other's blocks.
PURPOSE = "rtest" + os.environ.get("PYTEST_XDIST_WORKER", "")


class BlockWorker(Worker):
    """Owns a shared-memory block like a process that owns a ring; counts steps and settings."""

    def __init__(self, name: str, log_dir: Any, **kwargs: Any) -> None:
        super().__init__(name, log_dir, **kwargs)
        ctx = mp.get_context("spawn")
        self.steps = ctx.RawValue("q", 0)
        self.applied = ctx.RawValue("q", -1)  # the last settings value applied
        self.settings_calls = ctx.RawValue("q", 0)

    def setup(self) -> None:
        self._block = create_block(PURPOSE, self.name, 4096)
        self.log.info("owns block %s", self._block.name)

    def step(self) -> None:
        self.steps.value += 1
        self.stop_event.wait(0.01)

    def on_settings(self, settings: object) -> None:
        assert isinstance(settings, int)
        self.applied.value = settings
        self.settings_calls.value += 1

    def teardown(self) -> None:
        block = getattr(self, "_block", None)
        if block is not None:
            release_block(block, unlink=True)
        self.log.info("teardown done")


class HangingWorker(BlockWorker):
    """Its step never returns, like a driver call stuck in a device."""

    def step(self) -> None:
        self.log.info("step hangs")
        threading.Event().wait()


class FailingWorker(BlockWorker):
    """Raises in ``fail_in`` ("setup", "step" or "teardown"), its block released regardless."""

    def __init__(self, name: str, log_dir: Any, fail_in: str = "step", **kwargs: Any) -> None:
        super().__init__(name, log_dir, **kwargs)
        self.fail_in = fail_in

    def setup(self) -> None:
        super().setup()
        if self.fail_in == "setup":
            raise ValueError("sensor on fire")

    def step(self) -> None:
        super().step()
        if self.fail_in == "step" and self.steps.value >= 3:
            raise ValueError("sensor on fire")

    def teardown(self) -> None:
        super().teardown()
        if self.fail_in == "teardown":
            raise RuntimeError("shutter stuck open")


class EventWatcher(Worker):
    """Waits on an event set by the main process and counts what it saw."""

    def __init__(self, name: str, log_dir: Any, **kwargs: Any) -> None:
        super().__init__(name, log_dir, **kwargs)
        self.trigger = LoggedEvent("rtest.trigger")
        self.seen = mp.get_context("spawn").RawValue("q", 0)

    def step(self) -> None:
        if self.trigger.wait(0.02):
            self.seen.value = 1
            self.stop_event.wait(0.02)


class StuckWorker(Worker):
    """Never gets out of ``stuck_in``: "setup", or "teardown" (entered after its step raised)."""

    def __init__(self, name: str, log_dir: Any, stuck_in: str, **kwargs: Any) -> None:
        super().__init__(name, log_dir, **kwargs)
        self.stuck_in = stuck_in

    def setup(self) -> None:
        if self.stuck_in == "setup":
            threading.Event().wait()

    def step(self) -> None:
        raise RuntimeError("lost the device")

    def teardown(self) -> None:
        if self.stuck_in == "teardown":
            self.log.info("teardown hangs")
            threading.Event().wait()


class CommandWorker(Worker):
    """Answers numbered messages: states are stored, ``"later"`` is answered after a few steps,
    ``"refuse"`` is refused with a reason, ``"big"`` answers with a large array."""

    def __init__(self, name: str, log_dir: Any, **kwargs: Any) -> None:
        super().__init__(name, log_dir, **kwargs)
        self.applied = mp.get_context("spawn").RawValue("q", -1)
        self.settings_calls = mp.get_context("spawn").RawValue("q", 0)

    def setup(self) -> None:
        self._later: list[Any] = []

    def on_settings(self, settings: object) -> object:
        assert isinstance(settings, int)
        self.applied.value = settings
        self.settings_calls.value += 1
        return settings * 10

    def on_command(self, command: object) -> object:
        if command == "refuse":
            raise CommandRefused("the shutter is jammed")
        if command == "later":
            self._later.append(self.current_seq)
            return DEFERRED
        if command == "big":
            import numpy as np

            return np.arange(200_000, dtype=np.float64)  # far more than a pipe holds
        if command == "notice":
            self.notify(("hello", self.name))
        return f"did {command}"

    def step(self) -> None:
        if self._later:
            self.reply(self._later.pop(0), "done later")
        self.stop_event.wait(0.01)

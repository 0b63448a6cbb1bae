"""Running one processor on a stream of frames: volume hooks by frame id, and what it raises.

The engine is the same wherever the processor runs (a thread of the main process, the processor
process), so both give identical results for identical frames. Frame ``k`` of a run belongs to
volume ``k // planes`` and is its plane ``k % planes`` (the dispatcher's rule), so the volume
hooks follow the frame ids even when frames were skipped: a volume ends after its last plane, or
when a frame of a later volume (or of another run) arrives first.

When the processor raises, in a hook or in a method called by ``pipe_message``, the engine
returns a ``Failure`` with the traceback and applies the policy: ``off`` keeps the processor
switched off until new settings arrive (``update_settings`` or another processor); ``restart``
rebuilds it as it was set (the last whole copy and every message since), at most
``max_restarts`` times before it is switched off. Either way the frames keep flowing to the
saver untouched: a processor can fail, the acquisition cannot fail because of it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lightsheet.processing.processor_channel import (
    ClearProcessor,
    MessageRefused,
    MirrorMessage,
    ProcessorRaised,
    RemoteProcessor,
    ReplaceProcessor,
)

OnError = Literal["off", "restart"]


@dataclass(frozen=True)
class Output:
    """One result as the processor returned it, before it is numbered and sent."""

    data: np.ndarray
    frame_id: int
    run: int
    volume: int
    frames: int
    per_volume: bool
    version: int
    frame_host_ts: float


@dataclass(frozen=True)
class Failure:
    """The processor raised: where, its traceback, and what was done about it."""

    where: str
    traceback: str
    version: int
    action: Literal["switched off", "restarted", "saving stopped"]

    @property
    def message(self) -> str:
        last = self.traceback.strip().splitlines()[-1] if self.traceback.strip() else "?"
        return f"processor raised in {self.where}: {last} ({self.action})"

    def summary(self) -> str:
        return f"ProcessorFailed(v{self.version}: {self.message})"


@dataclass
class _Volume:
    run: int
    volume: int
    frames: int = 0
    last_frame_id: int = -1
    last_host_ts: float = 0.0


class ProcessorEngine:
    """Applies mirror messages and feeds frames to the remote copy of the processor."""

    def __init__(self, on_error: OnError = "off", max_restarts: int = 3) -> None:
        self.remote = RemoteProcessor()
        self.on_error: OnError = on_error
        self.max_restarts = max_restarts
        self.failed = False  # switched off after raising, until new settings arrive
        self.errors = 0
        self.restarts = 0
        self._volume: _Volume | None = None

    @property
    def active(self) -> bool:
        return self.remote.processor is not None and not self.failed

    @property
    def version(self) -> int:
        return self.remote.version

    @property
    def open_run(self) -> int | None:
        """The run of the volume being processed (begun, not ended), if any."""
        return None if self._volume is None else self._volume.run

    def apply(self, message: MirrorMessage) -> Failure | None:
        """Apply one message in order; MessageRefused when it cannot be applied."""
        try:
            self.remote.apply(message)
        except ProcessorRaised as exc:
            return self.fail(exc.where, exc.text)
        if isinstance(message, (ReplaceProcessor, ClearProcessor)):
            self.failed, self.restarts, self._volume = False, 0, None
        return None

    def frame(
        self, image: np.ndarray, frame_id: int, run: int, planes: int, host_ts: float
    ) -> tuple[list[Output], Failure | None]:
        """Feed one frame; the results it completed, and a failure if the processor raised."""
        outputs: list[Output] = []
        if not self.active:
            return outputs, None
        planes = max(planes, 1)
        volume, plane = divmod(frame_id, planes)
        where = f"begin_volume({volume})"
        try:
            current = self._volume
            if current is not None and (current.run, current.volume) != (run, volume):
                where = f"end_volume({current.volume})"
                outputs += self._end_volume()
            if self._volume is None:
                where = f"begin_volume({volume})"
                self._call(lambda p: p.begin_volume(volume))
                self._volume = _Volume(run, volume)
            where = f"process(frame {frame_id} of run {run})"
            value = self._call(lambda p: p.process(image))
            state = self._volume
            state.frames += 1
            state.last_frame_id, state.last_host_ts = frame_id, host_ts
            if value is not None:
                outputs.append(self._output(value, frame_id, run, volume, 1, False, host_ts))
            if plane == planes - 1:
                where = f"end_volume({volume})"
                outputs += self._end_volume()
        except Exception:
            return outputs, self.fail(where, traceback.format_exc())
        return outputs, None

    def end_open_volume(self) -> tuple[list[Output], Failure | None]:
        """The run ended (or another began): finish the volume whose last plane never came."""
        if self._volume is None or not self.active:
            self._volume = None
            return [], None
        where = f"end_volume({self._volume.volume})"
        try:
            return self._end_volume(), None
        except Exception:
            return [], self.fail(where, traceback.format_exc())

    # -- internals ------------------------------------------------------------------------------

    def _call(self, hook: Callable[[Any], Any]) -> Any:
        processor = self.remote.processor
        assert processor is not None
        return hook(processor)

    def _end_volume(self) -> list[Output]:
        state, self._volume = self._volume, None
        assert state is not None
        value = self._call(lambda p: p.end_volume(state.volume))
        if value is None:
            return []
        output = self._output(value, state.last_frame_id, state.run, state.volume, state.frames,
                              True, state.last_host_ts)  # fmt: skip
        return [output]

    def _output(self, value: object, frame_id: int, run: int, volume: int, frames: int,
                per_volume: bool, host_ts: float) -> Output:  # fmt: skip
        data = np.asarray(value)
        if data.dtype.kind not in "biuf":
            raise TypeError(f"a result must be numeric, got {data.dtype} ({type(value).__name__})")
        return Output(data, frame_id, run, volume, frames, per_volume, self.version, host_ts)

    def fail(self, where: str, text: str) -> Failure:
        """Record that the processor failed (also for what is found wrong with a result)."""
        self.errors += 1
        self._volume = None
        version = self.version
        if self.on_error == "restart" and self.restarts < self.max_restarts:
            self.restarts += 1
            try:
                self.remote.restore()
                return Failure(where, text, version, "restarted")
            except (ProcessorRaised, MessageRefused):
                pass  # cannot even be rebuilt: off
        self.failed = True
        return Failure(where, text, version, "switched off")

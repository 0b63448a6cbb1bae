"""Keeping the running copy of a processor current: ``update_settings`` and ``pipe_message``.

The processor that runs (in a thread of the main process, or in the processor process) is never
the object the operator's code holds: it is a *remote copy*, changed only by messages, in the
order they were made, on one ordered channel. Both ways CAS GUI users know exist, under the names
they know:

- ``update_settings()`` pickles the whole local object and replaces the remote copy with it.
  Simple, the two copies then agree; slower for a large object, and the remote copy's state
  (a running mean's frames, a captured background) starts over.
- ``pipe_message(name, args)`` calls method ``name(*args)`` on the remote copy, or sets attribute
  ``name`` to ``args`` (a 1-tuple sets its one value). Fast enough for a slider, and the remote
  state is kept; the local copy is not changed and is stale from then on.

Use one of them per processor: after a ``pipe_message`` the local object no longer says what
runs, so a later ``update_settings`` silently undoes every message sent before it. Every message
carries a version number (one counter per session); each result says the version it was
computed with, so a display can tell results of old settings from new ones.
"""

from __future__ import annotations

import pickle
import traceback
from dataclasses import dataclass
from typing import Any

from lightsheet.processing.processors import (
    ImageProcessor,
    ProcessorSpecError,
    coerce_setting,
    resolve_class,
    settings_of,
)
from lightsheet.runtime.channels import describe


class MessageRefused(Exception):
    """A message the remote copy cannot apply (unknown name, bad value, unpicklable object);
    the processor goes on as it was."""


class ProcessorRaised(Exception):
    """The processor's own code raised; ``text`` is the traceback."""

    def __init__(self, where: str, text: str) -> None:
        super().__init__(f"{where}: {text.strip().splitlines()[-1] if text.strip() else ''}")
        self.where = where
        self.text = text


@dataclass(frozen=True)
class ReplaceProcessor:
    """``update_settings()``: the pickled local processor replaces the remote copy."""

    version: int
    source: str  # the class's name (resolved first, so a class from a file unpickles)
    payload: bytes

    def summary(self) -> str:
        return f"update_settings v{self.version}: {self.source} ({len(self.payload)} bytes)"


@dataclass(frozen=True)
class PipeMessage:
    """``pipe_message(name, args)``: call a method or set an attribute on the remote copy."""

    version: int
    name: str
    args: tuple[Any, ...]

    def summary(self) -> str:
        return f"pipe_message v{self.version}: {self.name} {describe(self.args)}"


@dataclass(frozen=True)
class ClearProcessor:
    """No processor any more."""

    version: int

    def summary(self) -> str:
        return f"clear_processor v{self.version}"


MirrorMessage = ReplaceProcessor | PipeMessage | ClearProcessor


class SettingsMirror:
    """The main process's side: the local object, the version counter, and the messages a new
    remote copy needs to match the running one (the last whole copy and the messages since)."""

    def __init__(self) -> None:
        self.version = 0
        self.processor: ImageProcessor | None = None
        self.source = ""
        self._replay: list[MirrorMessage] = []

    def set(self, processor: ImageProcessor, source: str) -> ReplaceProcessor:
        self.processor, self.source = processor, source
        return self.update_settings()

    def update_settings(self) -> ReplaceProcessor:
        if self.processor is None:
            raise ProcessorSpecError("update_settings: no processor is set")
        try:
            payload = pickle.dumps(self.processor, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ProcessorSpecError(
                f"update_settings: the processor cannot be pickled: {exc}"
            ) from None
        self.version += 1
        message = ReplaceProcessor(self.version, self.source, payload)
        self._replay = [message]
        return message

    def pipe_message(self, name: str, args: object = ()) -> PipeMessage:
        if self.processor is None:
            raise ProcessorSpecError("pipe_message: no processor is set")
        if not name or name.startswith("__"):
            raise ProcessorSpecError(f"pipe_message: {name!r} is not a method or attribute name")
        self.version += 1
        message = PipeMessage(self.version, name, args if isinstance(args, tuple) else (args,))
        last = self._replay[-1] if self._replay else None
        is_method = callable(getattr(self.processor, name, None))
        if isinstance(last, PipeMessage) and last.name == name and not is_method:
            self._replay[-1] = message  # a slider's stream: only its newest value matters
        else:
            self._replay.append(message)
        return message

    def clear(self) -> ClearProcessor:
        self.processor, self.source = None, ""
        self.version += 1
        message = ClearProcessor(self.version)
        self._replay = [message]
        return message

    def replay(self) -> list[MirrorMessage]:
        """What a fresh remote copy is given first, in order."""
        return list(self._replay)


class RemoteProcessor:
    """The copy that runs, changed only by messages; ``restore()`` rebuilds it as it was set
    (the last whole copy, then every message since), after it raised."""

    def __init__(self) -> None:
        self.processor: ImageProcessor | None = None
        self.version = 0
        self.source = ""
        self._history: list[MirrorMessage] = []

    def apply(self, message: MirrorMessage) -> None:
        """MessageRefused when it cannot be applied, ProcessorRaised when the processor raised."""
        if isinstance(message, ReplaceProcessor):
            self.processor = _unpickle(message)
            self.source = message.source
            self._history = [message]
        elif isinstance(message, ClearProcessor):
            self.processor, self.source, self._history = None, "", [message]
        else:
            _deliver(self.processor, message)
            self._history.append(message)
        self.version = message.version

    def restore(self) -> None:
        """A fresh copy from the history (ProcessorRaised if replaying a message raises)."""
        history, self._history = self._history, []
        for message in history:
            self.apply(message)


def _unpickle(message: ReplaceProcessor) -> ImageProcessor:
    try:
        resolve_class(message.source)  # imports a class from a file under its stable name
        processor = pickle.loads(message.payload)
    except Exception as exc:
        raise MessageRefused(f"{message.source}: cannot rebuild the processor: {exc}") from None
    if not isinstance(processor, ImageProcessor):
        kind = type(processor).__name__
        raise MessageRefused(f"{message.source}: not an ImageProcessor ({kind})")
    return processor


def _deliver(processor: ImageProcessor | None, message: PipeMessage) -> None:
    if processor is None:
        raise MessageRefused(f"pipe_message {message.name}: no processor is set")
    name, args = message.name, message.args
    target = getattr(processor, name, None)
    if target is None and not hasattr(processor, name):
        raise MessageRefused(
            f"pipe_message: {type(processor).__name__} has no method or attribute {name!r}"
        )
    if callable(target):
        try:
            target(*args)
        except Exception:
            raise ProcessorRaised(f"{name}()", traceback.format_exc()) from None
        return
    value: object = args[0] if len(args) == 1 else args
    if name in settings_of(processor):  # a setting keeps its type ("4" -> 4 for an int)
        try:
            value = coerce_setting(processor, name, value)
        except ProcessorSpecError as exc:
            raise MessageRefused(f"pipe_message: {exc}") from None
    setattr(processor, name, value)

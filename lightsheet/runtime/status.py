"""Typed counters shared by every process, readable by the main process at any time.

The GUI status bar and the CLI progress bar read them without asking the children anything, so a
busy or hung child can never stall the display. Each process declares its own schema, a
``StatusSection`` subclass whose class attributes are ``Counter``s, and is the only writer of its
section; 8-byte aligned float stores are atomic on the platforms we run on, so no lock is needed.
Counters are not a channel for commands or acknowledgements: those travel as logged messages
(see ``lightsheet.runtime.commands``).

```
class CameraStatus(StatusSection):
    prefix = "camera"
    frames = count("frames read in the current run")

board = StatusBoard([CameraStatus, ...])     # main process, before spawning
camera = board.section(CameraStatus)          # any process: camera.frames += 1
```
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar, overload

_Num = TypeVar("_Num", int, float)
_S = TypeVar("_S", bound="StatusSection")


class Counter(Generic[_Num]):
    """One shared number of a section; reads as ``kind`` (float, or int for counts and ids)."""

    def __init__(self, kind: type[_Num], doc: str = "", initial: float = 0.0) -> None:
        self.doc = doc
        self.kind: type[_Num] = kind
        self.initial = float(initial)
        self.name = ""
        self.index = -1

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, section: None, owner: type) -> Counter[_Num]: ...
    @overload
    def __get__(self, section: StatusSection, owner: type) -> _Num: ...

    def __get__(self, section: StatusSection | None, owner: type) -> Counter[_Num] | _Num:
        if section is None:
            return self
        value: _Num = self.kind(section._values[section._offset + self.index])
        return value

    def __set__(self, section: StatusSection, value: float) -> None:
        section._values[section._offset + self.index] = float(value)


def count(doc: str = "", initial: float = 0.0) -> Counter[int]:
    """An integer counter (frames, runs, frame ids)."""
    return Counter(int, doc, initial)


def level(doc: str = "", initial: float = 0.0) -> Counter[float]:
    """A real-valued reading (rates, positions, timestamps)."""
    return Counter(float, doc, initial)


class StatusSection:
    """The counters of one process; subclass with a ``prefix`` and ``Counter`` attributes."""

    prefix: ClassVar[str] = ""
    counters: ClassVar[tuple[Counter[Any], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = [v for v in vars(cls).values() if isinstance(v, Counter)]
        for index, counter in enumerate(found):
            counter.index = index
        cls.counters = tuple(found)

    def __init__(self, values: Any, offset: int) -> None:
        self._values = values
        self._offset = offset

    def reset(self, *counters: Counter[Any]) -> None:
        """Put the given counters (all when none is given) back to their initial values."""
        for counter in counters or type(self).counters:
            self._values[self._offset + counter.index] = counter.initial

    def as_dict(self) -> dict[str, float]:
        """``{"prefix.name": value}`` of every counter, for logs and displays."""
        values = self._values[self._offset : self._offset + len(self.counters)]
        pairs = zip(self.counters, values, strict=True)
        return {f"{self.prefix}.{c.name}": float(v) for c, v in pairs}

    def copy(self: _S) -> _S:
        """A detached snapshot: the same typed fields, frozen at this moment."""
        n = len(self.counters)
        return type(self)(list(self._values[self._offset : self._offset + n]), 0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()})"


class StatusBoard:
    """The sections of every process in one shared array; picklable for spawned children."""

    def __init__(self, schemas: Sequence[type[StatusSection]]) -> None:
        prefixes = [s.prefix for s in schemas]
        if len(set(prefixes)) != len(prefixes) or not all(prefixes):
            raise ValueError(f"status sections need distinct, non-empty prefixes: {prefixes}")
        self._offsets: dict[type[StatusSection], int] = {}
        size = 0
        for schema in schemas:
            self._offsets[schema] = size
            size += len(schema.counters)
        self._values = mp.get_context("spawn").RawArray("d", max(size, 1))
        for schema in schemas:
            self.section(schema).reset()

    @property
    def schemas(self) -> tuple[type[StatusSection], ...]:
        return tuple(self._offsets)

    def section(self, schema: type[_S]) -> _S:
        """The live, typed view of one process's counters."""
        try:
            offset = self._offsets[schema]
        except KeyError:
            raise KeyError(f"{schema.__name__} is not on this status board") from None
        return schema(self._values, offset)

    def snapshot(self) -> dict[str, float]:
        """Every counter as ``{"prefix.name": value}``."""
        values: dict[str, float] = {}
        for schema in self._offsets:
            values.update(self.section(schema).as_dict())
        return values

    def describe(self) -> Iterable[tuple[str, str]]:
        """(name, meaning) of every counter, for documentation."""
        for schema in self._offsets:
            for counter in schema.counters:
                yield f"{schema.prefix}.{counter.name}", counter.doc

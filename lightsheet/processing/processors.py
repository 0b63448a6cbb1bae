"""Live image processors: the class operators subclass, its settings, and how one is named.

```
class Sharpen(ImageProcessor):
    name = "sharpen"                      # /processed/sharpen when results are saved
    def __init__(self) -> None:
        self.amount = 1.5                 # a setting: a plain public attribute
    def process(self, frame):             # frame: (y, x) uint16, read-only, valid during the call
        return frame - self.amount * blur(frame)
```

A processor is built with no arguments and configured through its settings: public attributes
holding a bool, an int, a float or a str. The GUI makes a widget of each, the config and the
command line set them by name, and they are what ``update_settings`` mirrors. Everything else
(caches, accumulators) belongs in attributes starting with ``_``.

``process(frame)`` returns an image (any shape and dtype), a number (a metric), or None (nothing
for this frame). ``begin_volume``/``end_volume`` frame each volume (by frame id, so a volume whose
frames were partly skipped still ends); ``end_volume`` may return the volume's result.

A processor is named by a built-in name (``BUILTINS``), by ``package.module:Class`` or by
``path/to/file.py:Class``; the same name is resolved in every process that runs it, so a class
from a file unpickles in the processor process as it does in the main one.
"""

from __future__ import annotations

import abc
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

SettingValue = bool | int | float | str
SETTING_TYPES = (bool, int, float, str)

# Built-in processors by the name the config, the command line and the GUI use.
BUILTINS: dict[str, str] = {
    "background": "lightsheet.processing.builtin_processors:BackgroundSubtraction",
    "flatfield": "lightsheet.processing.builtin_processors:FlatFieldCorrection",
    "mean": "lightsheet.processing.builtin_processors:RunningMean",
    "max-projection": "lightsheet.processing.builtin_processors:MaxProjection",
    "focus": "lightsheet.processing.builtin_processors:FocusMetric",
}
_USER_MODULE_PREFIX = "lightsheet_user_"
_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


class ProcessorSpecError(ValueError):
    """A processor name that resolves to no processor class, or a setting it does not have."""


class ImageProcessor(abc.ABC):
    """Base of every live processor; see the module docstring for the contract. A subclass
    without ``process`` cannot be made (refused when it is named, not at its first frame)."""

    name: ClassVar[str] = ""  # the saved dataset's name; default: the class name in lower case
    # Optional (low, high) bounds of numeric settings, for the GUI's widgets.
    ranges: ClassVar[dict[str, tuple[float, float]]] = {}

    @abc.abstractmethod
    def process(self, frame: np.ndarray) -> np.ndarray | float | None:
        """The result of one frame (an image or a number), or None for no result."""

    def begin_volume(self, volume: int) -> None:  # noqa: B027 (optional hook)
        """Called before the first frame of volume ``volume`` that is processed."""

    def end_volume(self, volume: int) -> np.ndarray | float | None:
        """Called after the last frame of the volume that was processed; may return a result."""
        return None

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in settings_of(self).items())
        return f"{type(self).__name__}({settings})"


def saved_name(processor: ImageProcessor) -> str:
    """The name its saved results get: ``/processed/<name>``."""
    return type(processor).name or type(processor).__name__.lower()


def settings_of(processor: object) -> dict[str, SettingValue]:
    """The processor's settings: public attributes of a plain type, in definition order."""
    return {
        key: value
        for key, value in vars(processor).items()
        if not key.startswith("_") and isinstance(value, SETTING_TYPES)
    }


def coerce_setting(processor: object, key: str, value: object) -> SettingValue:
    """``value`` converted to the type of setting ``key`` (text from a command line, too)."""
    settings = settings_of(processor)
    if key not in settings:
        known = ", ".join(settings) or "none"
        raise ProcessorSpecError(
            f"{type(processor).__name__} has no setting {key!r} (its settings: {known})"
        )
    current = settings[key]
    try:
        return _convert(type(current), value)
    except (TypeError, ValueError):
        kind = _KINDS.get(type(current), type(current).__name__)
        raise ProcessorSpecError(f"setting {key}: expected {kind}, got {value!r}") from None


def apply_settings(processor: ImageProcessor, options: Mapping[str, object]) -> None:
    """Set several settings at once, each checked and converted."""
    for key, value in options.items():
        setattr(processor, key, coerce_setting(processor, key, value))


def _convert(kind: type, value: object) -> SettingValue:
    if kind is str:
        return str(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if kind is bool:
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return int(text) if kind is int else _finite(float(text))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        if kind is bool and isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ValueError(value)
    if kind is bool:
        raise ValueError(value)  # 0 and 1 are numbers, not a yes or a no
    if kind is int:
        if float(value) != int(value):
            raise ValueError(value)
        return int(value)
    return _finite(float(value))


def _finite(number: float) -> float:
    if not np.isfinite(number):
        raise ValueError(number)
    return number


# -- names --------------------------------------------------------------------------------------


def resolve_class(spec: str) -> type[ImageProcessor]:
    """The processor class a name stands for (built-in, ``module:Class`` or ``file.py:Class``)."""
    spec = spec.strip()
    target = BUILTINS.get(spec, spec)
    if ":" in target:
        where, _, attr = target.rpartition(":")
    elif "." in target:
        where, _, attr = target.rpartition(".")
    else:
        raise ProcessorSpecError(
            f"{spec!r} is not a built-in processor ({', '.join(BUILTINS)}) "
            "nor a class named as package.module:Class or path/to/file.py:Class"
        )
    module = _load_module(where, spec)
    cls = getattr(module, attr, None)
    if not isinstance(cls, type) or not issubclass(cls, ImageProcessor):
        what = "has no class" if cls is None else "is not a subclass of ImageProcessor:"
        raise ProcessorSpecError(f"{spec!r}: {where} {what} {attr}")
    return cls


def create_processor(spec: str, options: Mapping[str, object] | None = None) -> ImageProcessor:
    """A new processor of class ``spec`` with ``options`` set (each checked)."""
    cls = resolve_class(spec)
    try:
        processor = cls()
    except Exception as exc:
        raise ProcessorSpecError(
            f"{spec!r}: {cls.__name__}() raised {type(exc).__name__}: {exc}"
        ) from None
    apply_settings(processor, options or {})
    return processor


def _load_module(where: str, spec: str) -> Any:
    if where.endswith(".py"):
        return _load_file(Path(where).expanduser(), spec)
    try:
        return importlib.import_module(where)
    except ImportError as exc:
        raise ProcessorSpecError(f"{spec!r}: cannot import {where} ({exc})") from None
    except Exception as exc:
        raise ProcessorSpecError(
            f"{spec!r}: importing {where} raised {type(exc).__name__}: {exc}"
        ) from None


def _load_file(path: Path, spec: str) -> Any:
    """A module from a file, under a name derived from its path (the same in every process)."""
    path = path.resolve()
    if not path.is_file():
        raise ProcessorSpecError(f"{spec!r}: no such file {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    name = f"{_USER_MODULE_PREFIX}{stem}_{digest}"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ProcessorSpecError(f"{spec!r}: {path} is not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ProcessorSpecError(
            f"{spec!r}: running {path} raised {type(exc).__name__}: {exc}"
        ) from None
    return module

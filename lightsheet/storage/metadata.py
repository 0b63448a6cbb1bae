"""metadata.json of a run: what was configured, what ran, and how it ended.

The caller assembles the content; this module only guarantees that the file on disk is always
a complete, strict JSON document (it is rewritten at the end of a run over the one written at
the start, so a crash in between must leave the start version readable).
"""

from __future__ import annotations

import datetime as _dt
import enum
import importlib.metadata
import json
import math
import platform
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, TypedDict

import numpy as np

from lightsheet.storage.durable import partial_path, publish

METADATA_FILE = "metadata.json"
STOP_REASON_RUNNING = "running"

# Distributions whose versions matter when a dataset is questioned later.
_DISTRIBUTIONS = (
    "lightsheet",
    "numpy",
    "h5py",
    "hdf5plugin",
    "pydantic",
    "nidaqmx",
    "pyserial",
)


class RunMetadata(TypedDict, total=False):
    """The keys a run's metadata.json holds; `lightsheet inspect` reads them by these names.

    Times are ISO 8601 strings (see `now_iso`). stop_reason is "running" until the run ends.
    """

    config: dict[str, Any]
    versions: dict[str, str]
    start_time: str
    stop_time: str | None
    stop_reason: str
    frames_acquired: int
    frames_dropped: int
    volumes_saved: int
    trigger: dict[str, Any]
    timing: dict[str, Any]  # lightsheet.analysis.timing_section: the timing report and verdict


def now_iso() -> str:
    """The current local time with its UTC offset, so runs from different sites compare."""
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


def software_versions() -> dict[str, str]:
    """Versions of the software that produced a run, for the packages that are installed."""
    import h5py  # deferred: only the HDF5 library version needs the module itself

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["hdf5"] = h5py.version.hdf5_version
    return versions


def json_safe(value: Any, _path: str = "$") -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, Paths, datetimes, enums and
    pydantic models converted; NaN and infinities become null so the file stays strict JSON.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist(), _path)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return json_safe(value.value, _path)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, f"{_path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v, f"{_path}[{i}]") for i, v in enumerate(items)]
    if hasattr(value, "model_dump"):  # a pydantic model, e.g. the resolved config
        return json_safe(value.model_dump(mode="json"), _path)
    raise TypeError(f"{_path}: {type(value).__name__} cannot be stored in metadata.json")


def write_metadata(run_dir: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``run_dir/metadata.json`` atomically: readers see the old or the new file, whole."""
    final = Path(run_dir) / METADATA_FILE
    text = json.dumps(json_safe(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    partial = partial_path(final)
    partial.write_text(text, encoding="utf-8")
    publish(partial, final)
    return final


def read_metadata(run_dir: str | Path) -> dict[str, Any]:
    """The content of ``run_dir/metadata.json``.

    Raises FileNotFoundError when there is none and ValueError when it is not a JSON object.
    """
    path = Path(run_dir) / METADATA_FILE
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data

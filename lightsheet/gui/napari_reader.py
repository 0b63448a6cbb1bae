"""napari reader (npe2) for saved runs: a run folder, its dataset.h5 or one of its chunk files
opens as one lazy (t, z, y, x) image layer in micrometres, so a run of any size can be browsed
without loading it into memory.

The layer's dask array reads planes straight from the HDF5 file, which stays open read-only for
as long as the array (and so the layer) exists; the file is closed when the layer is collected.
Its axes are named t, z, y, x and carry micrometres where napari supports layer units and axis
labels (0.6 and later).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np

from lightsheet.storage import DATASET_FILE, read_metadata

log = logging.getLogger(__name__)

LayerData = tuple[Any, dict[str, Any], str]
PathArg = str | Path | Sequence[str | Path]
ReaderFunction = Callable[[PathArg], list[LayerData]]

_DATA = "data"
_FRAMES = "frames"
_CHUNKS_DIR = "chunks"
_NDIM = 4
AXIS_LABELS = ("t", "z", "y", "x")
# Contrast limits come from a few planes spread over the run, each subsampled with a stride, so
# opening a run of hundreds of gigabytes reads a handful of planes and holds little memory.
_SAMPLE_PLANES = 8
_SAMPLE_SIDE = 512
_CONTRAST_PERCENTILES = (0.1, 99.9)
# Run summary fields copied from metadata.json into the layer's metadata.
_SUMMARY_KEYS = (
    "stop_reason",
    "start_time",
    "stop_time",
    "volumes_saved",
    "frames_acquired",
    "frames_dropped",
)


def get_reader(path: PathArg) -> ReaderFunction | None:
    """npe2 reader hook: `read_run` for a run folder or an .h5 file holding a 4-D /data, None
    for anything else so that napari tries its other readers.
    """
    return read_run if _data_file(path) is not None else None


def read_run(path: PathArg) -> list[LayerData]:
    """The run at ``path`` as one lazy napari image layer in physical units.

    Raises ValueError when ``path`` is not a run folder nor an .h5 file with a 4-D /data.
    """
    data_file = _data_file(path)
    if data_file is None:
        raise ValueError(f"{path}: not a lightsheet run (no 4-D /{_DATA} dataset)")
    run_dir = _run_dir(data_file)
    meta = _run_metadata(run_dir)
    h5_file = h5py.File(data_file, "r")
    try:
        data = h5_file[_DATA]
        layer_kwargs = {
            "name": _layer_name(data_file, run_dir),
            "scale": _voxel_scale(data, meta),
            "contrast_limits": _contrast_limits(data),
            "metadata": _layer_metadata(data, data_file, run_dir, meta),
            "rgb": False,
            "multiscale": False,
            **_named_axes(),
        }
        # One dask chunk per plane matches the plane-sized HDF5 chunks of the files. name=False
        # keeps dask from hashing (reading) the whole dataset to name the array.
        array = da.from_array(
            data,
            chunks=(1, 1, *data.shape[2:]),
            name=False,
            fancy=False,
            meta=np.empty((0,) * _NDIM, dtype=data.dtype),
        )
    except BaseException:
        h5_file.close()
        raise
    log.info("opened %s as %s %s", data_file, array.shape, array.dtype)
    return [(array, layer_kwargs, "image")]


@functools.cache
def _named_axes() -> dict[str, Any]:
    """axis_labels (and units: one volume per step in t, micrometres in space) when this
    napari's Image layer takes them."""
    from napari.layers import Image

    accepted = inspect.signature(Image.__init__).parameters
    extra: dict[str, Any] = {}
    if "axis_labels" in accepted:
        extra["axis_labels"] = AXIS_LABELS
    if "units" in accepted:
        extra["units"] = ("pixel", "um", "um", "um")
    return extra


def _single_path(path: PathArg) -> Path | None:
    if isinstance(path, (str, Path)):
        return Path(path)
    # A list asks to stack several files into one layer, which a run never needs.
    paths = list(path)
    return Path(paths[0]) if len(paths) == 1 else None


def _data_file(path: PathArg) -> Path | None:
    """The HDF5 file holding the run's (t, z, y, x) /data, or None when there is none."""
    target = _single_path(path)
    if target is None:
        return None
    if target.is_dir():
        target = target / DATASET_FILE
    if not (target.is_file() and target.suffix.lower() == ".h5"):
        return None
    try:
        with h5py.File(target, "r") as h5_file:
            data = h5_file.get(_DATA)
            if not isinstance(data, h5py.Dataset) or data.ndim != _NDIM:
                return None
            if data.size == 0:
                log.info("%s holds no volume yet: nothing to show", target)
                return None
    except OSError:
        return None
    return target


def _run_dir(data_file: Path) -> Path | None:
    """The run folder the file belongs to (where metadata.json is), if it is part of a run."""
    if data_file.name == DATASET_FILE:
        return data_file.parent
    if data_file.parent.name == _CHUNKS_DIR:
        return data_file.parent.parent
    return None


def _run_metadata(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None:
        return {}
    try:
        return read_metadata(run_dir)
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as exc:
        log.warning("%s: metadata ignored (%s)", run_dir, exc)
        return {}


def _layer_name(data_file: Path, run_dir: Path | None) -> str:
    if data_file.name == DATASET_FILE:
        return data_file.parent.name
    return f"{run_dir.name} {data_file.stem}" if run_dir is not None else data_file.stem


def _attr(data: h5py.Dataset, key: str) -> Any:
    """A run attribute, set on the dataset itself or on the root of its file."""
    if key in data.attrs:
        return data.attrs[key]
    return data.file.attrs.get(key)


def _section(meta: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = meta.get(key)
        if not isinstance(value, Mapping):
            return {}
        meta = value
    return meta


def _finite(value: Any) -> float | None:
    """A finite number of any sign (piezo positions may be negative), or None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    number = _finite(value)
    return number if number is not None and number > 0 else None


def _configured_z_step(meta: Mapping[str, Any]) -> float | None:
    scanning = _section(meta, "config", "scanning")
    planes = scanning.get("n_planes")
    start, end = _finite(scanning.get("z_start_um")), _finite(scanning.get("z_end_um"))
    if not isinstance(planes, int) or planes < 2 or start is None or end is None:
        return None
    return _positive(abs(end - start) / (planes - 1))


def _voxel_scale(data: h5py.Dataset, meta: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """(t, z, y, x) scale: one per volume in t, micrometres in space; attributes written with
    the data win over the configuration in metadata.json.
    """
    z_step = _positive(_attr(data, "z_step_um")) or _configured_z_step(meta)
    pixel = _positive(_attr(data, "pixel_size_um")) or _positive(
        _section(meta, "config", "camera").get("pixel_size_um")
    )
    if pixel is None:
        log.warning("%s: no pixel size recorded, y and x are shown in pixels", data.file.filename)
    if z_step is None and data.shape[1] > 1:
        log.warning("%s: no z step recorded, z is shown in planes", data.file.filename)
    return (1.0, z_step or 1.0, pixel or 1.0, pixel or 1.0)


def _contrast_limits(data: h5py.Dataset) -> tuple[float, float]:
    """Robust display range from a few strided planes spread over the whole run."""
    volumes, planes, height, width = data.shape
    total = volumes * planes
    picks = np.unique(np.linspace(0, total - 1, min(_SAMPLE_PLANES, total)).round().astype(int))
    step_y, step_x = -(-height // _SAMPLE_SIDE), -(-width // _SAMPLE_SIDE)
    sample = np.concatenate(
        [data[int(i) // planes, int(i) % planes, ::step_y, ::step_x].ravel() for i in picks]
    )
    low, high = (float(v) for v in np.percentile(sample, _CONTRAST_PERCENTILES))
    return (low, high) if high > low else (low, low + 1.0)


def _missing_frames(h5_file: h5py.File) -> int | None:
    """Planes whose frame never arrived, from the per-frame table (None when there is none)."""
    frames = h5_file.get(_FRAMES)
    if not isinstance(frames, h5py.Dataset) or "present" not in (frames.dtype.names or ()):
        return None
    present = frames.fields("present")[...].astype(bool)
    return int(np.count_nonzero(~present))


def _layer_metadata(
    data: h5py.Dataset, data_file: Path, run_dir: Path | None, meta: Mapping[str, Any]
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "source": str(data_file),
        "run_dir": None if run_dir is None else str(run_dir),
        "volumes": int(data.shape[0]),
        "planes_per_volume": int(data.shape[1]),
        "missing_frames": _missing_frames(data.file),
    }
    info.update({key: meta[key] for key in _SUMMARY_KEYS if key in meta})
    info["run_metadata"] = dict(meta)
    return info

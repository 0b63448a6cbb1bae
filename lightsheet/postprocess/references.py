"""Dark and flat images for background correction: a 2D image file (.npy or TIFF), or a run
averaged over every plane whose frame arrived."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightsheet.postprocess.options import ProcessingInputError
from lightsheet.storage import DATASET_FILE, RunError, iter_frames_table, open_run

IMAGE_SUFFIXES = (".npy", ".tif", ".tiff")


def load_reference(path: str | Path, frame_shape: tuple[int, int], what: str) -> np.ndarray:
    """The float32 (y, x) image ``path`` names, checked against the run's frame shape.

    ``what`` ("dark", "flat") names the option in error messages.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        image = _run_average(path, what)
    elif not path.exists():
        raise ProcessingInputError(f"--{what} {path}: no such file or run folder")
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        image = _read_image(path, what)
    else:
        raise ProcessingInputError(
            f"--{what} {path}: expected a .npy or TIFF image, or a run folder"
        )
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise ProcessingInputError(f"--{what} {path}: expected a 2D image, got shape {image.shape}")
    if image.shape != tuple(frame_shape):
        raise ProcessingInputError(
            f"--{what} {path}: image is {image.shape[0]} × {image.shape[1]}, "
            f"the run's frames are {frame_shape[0]} × {frame_shape[1]}"
        )
    if not np.all(np.isfinite(image)):
        raise ProcessingInputError(f"--{what} {path}: the image holds NaN or infinite values")
    return np.ascontiguousarray(image, dtype=np.float32)


def _read_image(path: Path, what: str) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npy":
            image = np.load(path, allow_pickle=False)
        else:
            import tifffile

            image = tifffile.imread(path)
    except Exception as exc:  # numpy and tifffile raise many kinds on a bad file
        raise ProcessingInputError(f"--{what} {path}: unreadable image ({exc})") from None
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ProcessingInputError(f"--{what} {path}: not a numeric image ({image.dtype})")
    return image


def _run_average(path: Path, what: str) -> np.ndarray:
    """Mean of every present plane of the run, accumulated in float64."""
    if not (path / DATASET_FILE).is_file():
        raise ProcessingInputError(f"--{what} {path}: folder is not a lightsheet run")
    try:
        present = iter_frames_table(path)["present"].astype(bool)
        data = open_run(path)
    except (RunError, OSError, KeyError) as exc:
        raise ProcessingInputError(f"--{what} {path}: unreadable run ({exc})") from None
    try:
        volumes, planes = data.shape[:2]
        present = present.reshape(volumes, planes)
        total = np.zeros(data.shape[2:], np.float64)
        for volume in range(volumes):
            for plane in np.flatnonzero(present[volume]):
                total += data[volume, int(plane)]
    finally:
        data.file.close()
    count = int(np.count_nonzero(present))
    if count == 0:
        raise ProcessingInputError(f"--{what} {path}: the run holds no frame to average")
    return total / count

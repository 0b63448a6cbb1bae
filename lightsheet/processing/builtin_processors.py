"""The built-in live processors: background, flatfield, mean, max-projection and focus.

Each is an ``ImageProcessor`` whose settings are its public attributes; caches start with ``_``.
Reference images (a background, a flat, a dark) are read from a .npy or TIFF file when first
needed and again whenever their path setting changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightsheet.processing.corrections import correction_gain
from lightsheet.processing.processors import ImageProcessor

FLOAT = np.float32


def load_image(path: str, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 (y, x) image in ``path`` (.npy or TIFF), checked against the frame shape."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{what}: no such file {file}")
    if file.suffix.lower() == ".npy":
        image = np.load(file, allow_pickle=False)
    elif file.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        image = tifffile.imread(file)
    else:
        raise ValueError(f"{what}: {file} is neither a .npy nor a TIFF file")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.shape != shape:
        raise ValueError(f"{what}: {file} holds a {image.shape} image, frames are {shape}")
    return np.ascontiguousarray(image, dtype=FLOAT)


class BackgroundSubtraction(ImageProcessor):
    """``frame − background + offset`` (clipped at 0): the background from a stored image, or
    the next frame once ``capture()`` is called (``pipe_message("capture")``)."""

    name = "background"
    ranges = {"offset": (-65535.0, 65535.0)}  # noqa: RUF012 (read-only class data)

    def __init__(self) -> None:
        self.background_path = ""  # a .npy or TIFF image as large as a frame
        self.offset = 0.0
        self.clip_negative = True
        self._background: np.ndarray | None = None
        self._loaded_path = ""
        self._capture_next = False

    def capture(self) -> None:
        """Make the next frame the background."""
        self._capture_next = True

    def process(self, frame: np.ndarray) -> np.ndarray:
        if self._capture_next:
            self._background = frame.astype(FLOAT)
            self._loaded_path, self._capture_next = self.background_path, False
        elif self.background_path and self.background_path != self._loaded_path:
            self._background = load_image(self.background_path, "background_path", frame.shape)
            self._loaded_path = self.background_path
        background = self._background
        if background is None:
            raise ValueError(
                "background: no background image; set background_path (a .npy or TIFF file) "
                "or call capture()"
            )
        if background.shape != frame.shape:
            raise ValueError(f"background: image is {background.shape}, frames are {frame.shape}")
        out = frame.astype(FLOAT)
        out -= background
        if self.offset:
            out += FLOAT(self.offset)
        if self.clip_negative:
            np.maximum(out, 0, out=out)
        return out


class FlatFieldCorrection(ImageProcessor):
    """``(frame − dark) / (flat − dark) × mean(flat − dark)``: uneven illumination evened out.

    The dark is ``dark_path`` when set, else the constant ``dark_level`` (the camera's offset).
    """

    name = "flatfield"
    ranges = {"dark_level": (0.0, 65535.0)}  # noqa: RUF012 (read-only class data)

    def __init__(self) -> None:
        self.flat_path = ""
        self.dark_path = ""
        self.dark_level = 0.0
        self._gain: np.ndarray | None = None
        self._dark: np.ndarray | float = 0.0
        self._prepared_for: tuple[str, str, float, tuple[int, ...]] | None = None

    def process(self, frame: np.ndarray) -> np.ndarray:
        key = (self.flat_path, self.dark_path, float(self.dark_level), frame.shape)
        if key != self._prepared_for:
            self._prepare(frame.shape)
            self._prepared_for = key
        gain = self._gain
        assert gain is not None
        out = frame.astype(FLOAT)
        out -= self._dark
        out *= gain
        return out

    def _prepare(self, shape: tuple[int, ...]) -> None:
        if not self.flat_path:
            raise ValueError("flatfield: no flat image; set flat_path (a .npy or TIFF file)")
        flat = load_image(self.flat_path, "flat_path", shape)
        if self.dark_path:
            dark: np.ndarray | float = load_image(self.dark_path, "dark_path", shape)
        else:
            dark = FLOAT(self.dark_level)
        dark_image = np.broadcast_to(np.asarray(dark, dtype=FLOAT), shape)
        self._gain = correction_gain(dark_image, flat)
        self._dark = dark


class RunningMean(ImageProcessor):
    """The mean of the last ``frames`` frames processed (fewer at the start)."""

    name = "mean"
    ranges = {"frames": (1, 1000)}  # noqa: RUF012 (read-only class data)

    def __init__(self) -> None:
        self.frames = 8
        self._buffer: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._count = 0
        self._next = 0

    def process(self, frame: np.ndarray) -> np.ndarray:
        n = max(1, int(self.frames))
        if self._buffer is None or self._buffer.shape != (n, *frame.shape):
            self._buffer = np.zeros((n, *frame.shape), dtype=frame.dtype)
            self._sum = np.zeros(frame.shape, dtype=np.float64)  # exact for integer pixels
            self._count = self._next = 0
        total = self._sum
        assert total is not None
        slot = self._next
        if self._count == n:
            total -= self._buffer[slot]
        else:
            self._count += 1
        self._buffer[slot] = frame
        total += self._buffer[slot]
        self._next = (slot + 1) % n
        return (total / self._count).astype(FLOAT)


class MaxProjection(ImageProcessor):
    """The maximum over the planes of each volume, returned when the volume ends."""

    name = "max-projection"

    def __init__(self) -> None:
        self._max: np.ndarray | None = None

    def begin_volume(self, volume: int) -> None:
        self._max = None

    def process(self, frame: np.ndarray) -> None:
        if self._max is None or self._max.shape != frame.shape:
            self._max = frame.copy()
        else:
            np.maximum(self._max, frame, out=self._max)
        return None

    def end_volume(self, volume: int) -> np.ndarray | None:
        result, self._max = self._max, None
        return result


class FocusMetric(ImageProcessor):
    """Normalised variance ``var(I) / mean(I)`` of each frame (of its central part): higher is
    sharper, independent of the brightness; plotted live in the GUI."""

    name = "focus"
    ranges = {"central_fraction": (0.05, 1.0)}  # noqa: RUF012 (read-only class data)

    def __init__(self) -> None:
        self.central_fraction = 1.0

    def process(self, frame: np.ndarray) -> float:
        fraction = min(max(float(self.central_fraction), 0.05), 1.0)
        height, width = frame.shape[-2:]
        dy, dx = int(height * (1 - fraction) / 2), int(width * (1 - fraction) / 2)
        part = frame[..., dy : height - dy, dx : width - dx]
        mean = float(part.mean(dtype=np.float64))
        if mean <= 0:
            return 0.0
        return float(part.var(dtype=np.float64)) / mean

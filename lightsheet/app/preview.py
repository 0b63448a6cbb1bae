"""The newest preview image as the viewer gets it: a volume or a frame, with its identity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightsheet.runtime.preview import PreviewBuffer


@dataclass(frozen=True)
class Preview:
    """The newest preview image: a whole volume (z, y, x) or one frame (y, x)."""

    image: np.ndarray
    seq: int  # changes with every new image
    index: int  # volume index (volumes) or frame id (frames)
    kind: str  # "volume" | "frame"


def latest_preview(buffer: PreviewBuffer, newer_than: int | None = None) -> Preview | None:
    """A copy of the newest image, or None before the first one (or when it was torn); with
    ``newer_than`` (a ``Preview.seq``), None unless a newer image came (nothing is copied)."""
    if newer_than is not None and buffer.sequence() == newer_than:
        return None
    latest = buffer.read_latest()
    if latest is None:
        return None
    image, index, seq = latest
    if image.ndim == 3 and image.shape[0] == 1:
        return Preview(image[0], seq, index, "frame")
    return Preview(image, seq, index, "volume" if image.ndim == 3 else "frame")

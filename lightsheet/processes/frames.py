"""Layout of what travels through the rings: per-frame and per-volume metadata, run markers.

Runs are delimited in-band: after the last frame of a run the camera writes an END marker into the
frame ring, and the dispatcher forwards one into the volume ring, so every consumer sees exactly
where a run ends, in order, with no race against a separate signal.
"""

from __future__ import annotations

import numpy as np

from lightsheet.storage.chunks import FRAMES_DTYPE

KIND_FRAME = 0
KIND_END = 1  # end of a run: everything of that run is before this slot

FRAME_META = np.dtype(
    [
        ("frame_id", "<i8"),
        ("camera_ts", "<f8"),
        ("host_ts", "<f8"),
        ("run", "<i8"),
        ("kind", "<i4"),
        ("height", "<i4"),
        ("width", "<i4"),
    ]
)

# One row per plane of a saved volume (frame_id -1 where the frame never arrived): the
# storage layer's per-frame table, so the dispatcher fills exactly what the saver writes.
FRAME_TABLE = FRAMES_DTYPE


def volume_meta_dtype(planes: int) -> np.dtype:
    """Metadata of one volume slot: its index and run, and the frame table of its planes."""
    return np.dtype(
        [
            ("volume", "<i8"),
            ("run", "<i8"),
            ("kind", "<i4"),
            ("planes", "<i4"),
            ("height", "<i4"),
            ("width", "<i4"),
            ("frames", FRAME_TABLE, (planes,)),
        ]
    )


def empty_frame_table(volume: int, planes: int) -> np.ndarray:
    """A frame table for a volume in which no plane has arrived yet."""
    table = np.zeros(planes, dtype=FRAME_TABLE)
    table["frame_id"] = -1
    table["camera_ts"] = np.nan
    table["host_ts"] = np.nan
    table["volume"] = volume
    table["plane"] = np.arange(planes)
    return table

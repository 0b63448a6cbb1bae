"""Layout of what travels through the rings: per-frame and per-volume metadata, run markers.

Runs are delimited in-band: after the last frame of a run the camera writes an END marker into the
frame ring, and the dispatcher forwards one into the volume ring, so every consumer sees exactly
where a run ends, in order, with no race against a separate signal. The markers also carry the
run's final counts (frames the camera took and dropped, planes the dispatcher left empty), so the
numbers the saver reports for a run are that run's, whatever starts after it.

A VOID slot is one the producer took but could not fill (a read that timed out when the run ended
or the camera restarted): the consumer releases it unread, and the ring stays in order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lightsheet.storage.chunks import FRAMES_DTYPE

KIND_FRAME = 0
KIND_END = 1  # end of a run: everything of that run is before this slot
KIND_VOID = 2  # taken but never filled: skip it

FRAME_META = np.dtype(
    [
        ("frame_id", "<i8"),
        ("camera_ts", "<f8"),
        ("host_ts", "<f8"),
        ("run", "<i8"),
        ("kind", "<i4"),
        ("height", "<i4"),
        ("width", "<i4"),
        # END only: the run's counts from the camera.
        ("frames_acquired", "<i8"),
        ("frames_dropped", "<i8"),
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
            # END only: the run's counts, the camera's and the dispatcher's.
            ("frames_acquired", "<i8"),
            ("frames_dropped", "<i8"),
            ("frames_missing", "<i8"),
            ("frames", FRAME_TABLE, (planes,)),
            # Where each plane's pixels are: in the frame-ring slot ``frame_slot`` (held by the
            # dispatcher until this volume slot is released), or, as in blank metadata, in this
            # slot's own data (copied, or a gap).
            ("in_frame_slot", "?", (planes,)),
            ("frame_slot", "<i4", (planes,)),
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


def frame_view(slot_data: np.ndarray, height: int, width: int) -> np.ndarray:
    """The first ``height * width`` elements of a slot as an image (a view, never a copy)."""
    return slot_data.reshape(-1)[: height * width].reshape(height, width)


def volume_view(slot_data: np.ndarray, planes: int, height: int, width: int) -> np.ndarray:
    """The first ``planes`` images of a slot as a (planes, height, width) view."""
    return slot_data.reshape(-1)[: planes * height * width].reshape(planes, height, width)


def volume_planes(
    slot_data: np.ndarray,
    meta: np.ndarray,
    planes: int,
    height: int,
    width: int,
    frame_slot: Callable[[int], np.ndarray] | None,
) -> list[np.ndarray]:
    """Each plane of a volume slot where the dispatcher left it: in the frame-ring slot its
    metadata names (``frame_slot(index)`` gives that slot's data) or in the volume slot's own
    data. Views, never copies."""
    own = volume_view(slot_data, planes, height, width)
    found: list[np.ndarray] = []
    elsewhere = meta["in_frame_slot"][:planes].tolist()
    for plane, source in enumerate(meta["frame_slot"][:planes].tolist()):
        if not elsewhere[plane]:
            found.append(own[plane])
        elif frame_slot is None:
            raise ValueError(f"plane {plane} is in frame slot {source}, and no frame ring is given")
        else:
            found.append(frame_view(frame_slot(source), height, width))
    return found


def copy_frame(frame: np.ndarray, out: np.ndarray, dark: np.ndarray | None) -> None:
    """``out = frame`` or, with a dark frame of the same shape, ``frame - dark`` saturating at 0
    (never wrapping below), in one pass over the pixels."""
    if dark is not None and dark.shape == frame.shape:
        np.maximum(frame, dark, out=out)
        out -= dark
    else:
        np.copyto(out, frame)

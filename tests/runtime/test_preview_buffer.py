"""The preview buffer: an image is filled plane by plane out of sight and shown whole.

The dispatcher copies each plane of a previewed volume as it arrives, so publishing the volume at
its last plane costs one plane, not the whole volume (the camera-to-preview latency). A reader
must never see that half-filled image: it sees the last committed one until the commit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lightsheet.runtime.preview import PreviewBuffer

SHAPE = (4, 16, 12)


@pytest.fixture
def buffer():
    made = PreviewBuffer.create("tpv", int(np.prod(SHAPE)), SHAPE[1] * SHAPE[2], "<u2")
    yield made
    made.close()


def _publish(buffer: PreviewBuffer, image: np.ndarray, index: int) -> bool:
    """A whole image at once, as a writer without planes would."""
    back = buffer.back(image.shape)
    if back is None:
        return False
    back[...] = image
    buffer.commit(index, image.shape)
    return True


def _fill(buffer: PreviewBuffer, value: int, planes: int = SHAPE[0]) -> np.ndarray:
    back = buffer.back(SHAPE)
    assert back is not None
    for plane in range(planes):
        back[plane] = value
    return back


def test_a_volume_being_filled_stays_out_of_sight_until_its_commit(buffer):
    _publish(buffer, np.full(SHAPE, 7, np.uint16), index=1)
    _fill(buffer, 8, planes=2)  # half of the next volume
    image, index, _ = buffer.read_latest()
    assert index == 1 and image.shape == SHAPE and (image == 7).all()

    _fill(buffer, 8)
    buffer.commit(2, SHAPE)
    image, index, _ = buffer.read_latest()
    assert index == 2 and (image == 8).all()


def test_each_commit_changes_the_sequence_and_the_shape_may_change(buffer):
    first = buffer.sequence()
    _publish(buffer, np.full(SHAPE, 1, np.uint16), index=0)
    second = buffer.sequence()
    plane = np.full(SHAPE[1:], 3, np.uint16)
    _publish(buffer, plane[np.newaxis], index=5)
    assert first < second < buffer.sequence()
    image, index, _ = buffer.read_latest()
    assert image.shape == (1, *SHAPE[1:]) and index == 5 and (image == 3).all()


def test_an_image_too_large_has_no_back_slot(buffer):
    assert buffer.back((SHAPE[0] + 1, *SHAPE[1:])) is None
    assert not _publish(buffer, np.zeros((SHAPE[0] + 1, *SHAPE[1:]), np.uint16), 0)


def test_readers_racing_a_plane_by_plane_writer_only_ever_see_whole_images(buffer):
    """Each image is filled with its own index; a torn read would mix two values."""
    done = threading.Event()
    seen: list[int] = []
    torn: list[int] = []

    def read() -> None:
        while not done.is_set():
            latest = buffer.read_latest()
            if latest is None:
                continue
            image, index, _ = latest
            seen.append(index)
            if not (image == index).all():
                torn.append(index)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for index in range(1, 3000):
            _fill(buffer, index)
            buffer.commit(index, SHAPE)
    finally:
        done.set()
        reader.join()
    assert seen, "the reader never got an image"
    assert not torn, f"torn images: {torn[:10]}"
    assert seen == sorted(seen)

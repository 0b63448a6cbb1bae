"""Test processors (importable by name, so they also run in the processor process) and a frame
ring fed from the test, standing in for the camera and the dispatcher."""

from __future__ import annotations

import numpy as np

from lightsheet.processes.frames import FRAME_META, KIND_END, KIND_FRAME
from lightsheet.processing.processors import ImageProcessor
from lightsheet.runtime.ring import Ring

HEIGHT, WIDTH = 6, 8


class Scale(ImageProcessor):
    """``frame × factor + offset``; ``offset`` changes only through ``add_offset``."""

    name = "scale"

    def __init__(self) -> None:
        self.factor = 1.0
        self._offset = 0.0

    def add_offset(self, amount: float) -> None:
        self._offset += amount

    def process(self, frame: np.ndarray) -> np.ndarray:
        return frame.astype(np.float64) * self.factor + self._offset


class Explode(ImageProcessor):
    """Raises on every frame whose id is in ``bad`` (a comma-separated list), else counts."""

    name = "explode"

    def __init__(self) -> None:
        self.bad = "3"
        self._seen = 0

    def process(self, frame: np.ndarray) -> float:
        frame_id = int(frame[0, 0])
        if str(frame_id) in self.bad.split(","):
            raise RuntimeError(f"cannot process frame {frame_id}")
        self._seen += 1
        return float(self._seen)


class Stamp(ImageProcessor):
    """Returns a large image filled with the frame's stamp (for torn-read checks)."""

    name = "stamp"

    def __init__(self) -> None:
        self.size = 256

    def process(self, frame: np.ndarray) -> np.ndarray:
        return np.full((self.size, self.size), int(frame[0, 0]), dtype=np.int64)


def frame_image(frame_id: int, run: int = 1) -> np.ndarray:
    """A frame whose first pixel is its id and whose content depends on id and run."""
    rng = np.random.default_rng(frame_id * 7919 + run)
    image = rng.integers(100, 4000, size=(HEIGHT, WIDTH), dtype=np.uint16)
    image[0, 0] = frame_id
    return image


class FrameFeed:
    """A frame ring written by the test (camera) and released at once (dispatcher)."""

    def __init__(self, slots: int = 8) -> None:
        self.ring = Ring.create("tlive", (HEIGHT * WIDTH,), "<u2", slots, FRAME_META, False)

    def frame(self, run: int, frame_id: int, image: np.ndarray | None = None) -> np.ndarray:
        image = frame_image(frame_id, run) if image is None else image
        slot = self.ring.try_acquire_write()
        assert slot is not None, "frame ring full"
        slot.data[: image.size] = image.reshape(-1)
        meta = slot.meta
        meta["frame_id"], meta["run"], meta["kind"] = frame_id, run, KIND_FRAME
        meta["height"], meta["width"], meta["host_ts"] = HEIGHT, WIDTH, 0.0
        self.ring.commit(slot)
        self._release()
        return image

    def end(self, run: int, last_frame_id: int) -> None:
        slot = self.ring.try_acquire_write()
        assert slot is not None
        slot.meta["kind"], slot.meta["run"], slot.meta["frame_id"] = KIND_END, run, last_frame_id
        self.ring.commit(slot)
        self._release()

    def _release(self) -> None:
        read = self.ring.acquire_read(1.0)
        assert read is not None
        self.ring.release(read)

    def close(self) -> None:
        self.ring.close()


def hammer(spec: object, count: int, size: int) -> None:
    """In another process: publish ``count`` results, each filled with its own number."""
    from lightsheet.processing.results import Result, ResultRingSpec

    assert isinstance(spec, ResultRingSpec)
    ring = spec.attach()
    try:
        image = np.empty((size, size), dtype=np.int64)
        for k in range(count):
            image.fill(k)
            ring.publish(Result(image, k, k, 1, k, 0))
    finally:
        ring.close()


class Probe(ImageProcessor):
    """Shows its own state in every result: [factor, offset, frames since it was built]."""

    name = "probe"

    def __init__(self) -> None:
        self.factor = 1
        self._offset = 0
        self._frames = 0

    def add(self, amount: int) -> None:
        self._offset += amount

    def process(self, frame: np.ndarray) -> np.ndarray:
        self._frames += 1
        return np.array([self.factor, self._offset, self._frames], dtype=np.int64)


class Fragile(ImageProcessor):
    """Raises on its ``fail_at``-th frame (0: never); a result per frame before that."""

    name = "fragile"

    def __init__(self) -> None:
        self.fail_at = 3
        self._frames = 0

    def process(self, frame: np.ndarray) -> np.ndarray:
        self._frames += 1
        if self._frames == self.fail_at:
            raise ZeroDivisionError(f"fragile gave up on its frame number {self._frames}")
        return frame.astype(np.float32) * 2

"""Frames received by the camera straight into shared-memory ring slots, as the camera process
will receive them once it uses FrameViews: the reference for that integration.

The loop below is what ``CameraWorker.step`` becomes: keep up to DEPTH ring slots lent to the
camera (``acquire_write(0)`` never counts a drop), commit each slot the camera hands back in ring
order, and pass a slot whose frame was lost on as a marker the consumer releases unread.
"""

from __future__ import annotations

import threading

import numpy as np

from lightsheet.hardware.camera.genicam import GenicamCamera
from lightsheet.hardware.camera.protocol import FrameInfo, FrameViews, LostFrame
from lightsheet.hardware.camera.views import frame_views
from lightsheet.runtime.ring import Ring, Slot
from tests.hardware.aravis_sim import LOOPBACK, fake_pattern, gige_simulator, stream_id_of
from tests.hardware.test_camera_contract import small_simulated

META = np.dtype([("frame_id", "<i8"), ("camera_ts", "<f8"), ("lost", "<i4")])
DEPTH = 12
SLOTS = 32
SHAPE = (256, 512)


def lend_slots(ring: Ring, views: FrameViews) -> None:
    while views.queued < DEPTH:
        slot = ring.acquire_write(0)
        if slot is None:
            return  # the ring is full: frames that find no view are counted in frames_lost
        height, width = SHAPE
        views.queue_view(slot.data[: height * width].reshape(SHAPE), slot)


def pump(ring: Ring, views: FrameViews, frames: int) -> int:
    """The camera process's step, ``frames`` times; the frames lost meanwhile."""
    done = 0
    while done < frames:
        lend_slots(ring, views)
        filled = views.next_filled(5.0)
        assert filled is not None, "no frame within 5 s"
        slot, result = filled
        assert isinstance(slot, Slot)
        slot.meta["frame_id"] = result.frame_id
        slot.meta["lost"] = isinstance(result, LostFrame)
        if isinstance(result, FrameInfo):
            slot.meta["camera_ts"] = result.camera_ts
        ring.commit(slot)
        done += 1
    return views.frames_lost


def consume(ring: Ring, count: int, out: list) -> None:
    while len(out) < count:
        slot = ring.acquire_read(5.0)
        if slot is None:
            return
        height, width = SHAPE
        frame = None if slot.meta["lost"] else slot.data[: height * width].reshape(SHAPE).copy()
        out.append((int(slot.meta["frame_id"]), frame))
        ring.release(slot)


def run_through_ring(camera: GenicamCamera | object, count: int) -> tuple[list, int]:
    """(frame id, frame or None) as the consumer saw them, and the frames lost while pumping."""
    ring = Ring.create("viewstest", (SHAPE[0] * SHAPE[1],), "<u2", SLOTS, META, blocking=False)
    received: list = []
    try:
        consumer = threading.Thread(target=consume, args=(ring, count, received), daemon=True)
        consumer.start()
        views = frame_views(camera)
        lend_slots(ring, views)  # before start: the camera receives into lent views from then on
        camera.start()
        try:
            lost = pump(ring, views, count)
        finally:
            camera.stop()
            views.release_views()
        consumer.join(10.0)
    finally:
        ring.close()
    return received, lost


def test_a_genicam_stream_lands_in_ring_slots_in_order_without_drops() -> None:
    with gige_simulator(serial="LSRING"), GenicamCamera(LOOPBACK, packet_size=8192) as camera:
        camera.set_roi(0, 0, SHAPE[1], SHAPE[0])
        camera.set_exposure_ms(10.0)
        received, lost = run_through_ring(camera, 120)
    assert lost == 0
    assert [frame_id for frame_id, _ in received] == list(range(120))
    first = stream_id_of(received[0][1])
    for frame_id, frame in received:
        np.testing.assert_array_equal(frame, fake_pattern(SHAPE, first + frame_id))


def test_the_same_loop_runs_any_camera_through_read_into() -> None:
    with small_simulated(sensor_width=SHAPE[1], sensor_height=SHAPE[0], stamp_frame_id=True) as cam:
        received, lost = run_through_ring(cam, 30)
    assert lost == 0
    assert [frame_id for frame_id, _ in received] == list(range(30))
    assert all(int(frame[0, 0]) == frame_id for frame_id, frame in received)  # the id stamp

"""What receiving a GenICam frame into a shared-memory ring slot costs, three ways, side by side.

Aravis's GigE Vision simulator streams 2048 x 2048 Mono16 frames (8 MiB) over loopback to this
process, which puts each frame into a slot of a real ``Ring``:

- views:     FrameViews, Aravis writes each frame straight into a lent ring slot (no copy);
- read_into: the backend's own Aravis buffers, one ``np.copyto`` into the slot;
- get_data:  the obvious PyGObject route, ``buffer.get_data()`` (a copy into new bytes), then a
             copy into the slot (the baseline);
- the limit: one ``np.copyto`` of a frame, what each copy in the other two costs at best.

Figures per method: frames received and lost, and the CPU time this process spent per frame
(its own thread plus Aravis's stream thread, which reassembles packets the same way for all
three). The last line is one JSON object.

    .venv/bin/python benchmarks/camera_receive.py [--frames 100] [--fps 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/camera_receive.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightsheet.hardware.camera.genicam import GenicamCamera
from lightsheet.hardware.camera.protocol import FrameInfo
from lightsheet.runtime.ring import Ring
from tests.hardware.aravis_sim import LOOPBACK, gige_simulator

SHAPE = (2048, 2048)
META = np.dtype([("frame_id", "<i8")])
SLOTS = 16
DEPTH = 8


def slot_view(slot) -> np.ndarray:
    return slot.data.reshape(SHAPE)


def receive_views(camera: GenicamCamera, ring: Ring, frames: int) -> int:
    for _ in range(DEPTH):
        slot = ring.acquire_write(0)
        camera.queue_view(slot_view(slot), slot)
    camera.start()
    for _ in range(frames):
        slot, info = camera.next_filled(5.0)
        assert isinstance(info, FrameInfo), info
        slot.meta["frame_id"] = info.frame_id
        ring.commit(slot)
        release_one(ring)
        camera.queue_view(slot_view(fresh := ring.acquire_write(0)), fresh)
    lost = camera.frames_lost
    camera.stop()
    camera.release_views()
    return lost


def receive_read_into(camera: GenicamCamera, ring: Ring, frames: int) -> int:
    camera.start()
    last = -1
    lost = 0
    for _ in range(frames):
        slot = ring.acquire_write(0)
        info = camera.read_into(slot_view(slot), 5.0)
        assert info is not None
        lost += info.frame_id - last - 1
        last = info.frame_id
        slot.meta["frame_id"] = info.frame_id
        ring.commit(slot)
        release_one(ring)
    camera.stop()
    return lost


def receive_get_data(camera: GenicamCamera, ring: Ring, frames: int) -> int:
    """The baseline straight on Aravis: buffers Aravis allocates, read with get_data()."""
    aravis = camera._aravis
    arv_camera = camera._camera()
    camera._configure(arv_camera)
    stream = arv_camera.create_stream(None, None)
    stream.set_property("socket-buffer", aravis.GvStreamSocketBuffer.AUTO)
    for _ in range(DEPTH):
        stream.push_buffer(aravis.Buffer.new_allocate(arv_camera.get_payload()))
    arv_camera.start_acquisition()
    last, lost = None, 0
    for _ in range(frames):
        buffer = stream.timeout_pop_buffer(5_000_000)
        frame_id = buffer.get_frame_id()
        lost += 0 if last is None else (frame_id - last - 1) % 0xFFFF
        last = frame_id
        slot = ring.acquire_write(0)
        np.copyto(slot_view(slot), np.frombuffer(buffer.get_data(), "<u2").reshape(SHAPE))
        stream.push_buffer(buffer)
        slot.meta["frame_id"] = frame_id
        ring.commit(slot)
        release_one(ring)
    arv_camera.stop_acquisition()
    return lost


def release_one(ring: Ring) -> None:
    slot = ring.acquire_read(5.0)
    ring.release(slot)


def measure(method: Callable, camera: GenicamCamera, frames: int) -> dict:
    ring = Ring.create("bench", (SHAPE[0] * SHAPE[1],), "<u2", SLOTS, META, blocking=False)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        lost = method(camera, ring, frames)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        ring.close()
    return {
        "frames": frames,
        "lost": int(lost),
        "cpu_ms_per_frame": 1000 * cpu / frames,
        "fps": frames / wall,
    }


def copy_limit_ms(repeats: int = 50) -> float:
    source = np.ones(SHAPE, np.uint16)
    target = np.empty_like(source)
    np.copyto(target, source)
    began = time.perf_counter()
    for _ in range(repeats):
        np.copyto(target, source)
    return 1000 * (time.perf_counter() - began) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--fps", type=float, default=20.0)
    args = parser.parse_args()
    methods = {"views": receive_views, "read_into": receive_read_into, "get_data": receive_get_data}
    results = {}
    with gige_simulator(serial="LSBENCH"), GenicamCamera(LOOPBACK, packet_size=8192) as camera:
        camera.set_exposure_ms(1000.0 / args.fps)
        for name, method in methods.items():
            results[name] = measure(method, camera, args.frames)
    limit = copy_limit_ms()
    print(
        f"{args.frames} frames of {SHAPE[0]} x {SHAPE[1]} Mono16 at {args.fps:g} frames/s "
        "over loopback, into ring slots"
    )
    print(f"{'method':<10} {'fps':>7} {'lost':>5} {'CPU ms/frame':>13}")
    for name, r in results.items():
        print(f"{name:<10} {r['fps']:7.1f} {r['lost']:5d} {r['cpu_ms_per_frame']:13.2f}")
    print(f"one np.copyto of a frame (the limit of each copy): {limit:.2f} ms")
    saved = results["get_data"]["cpu_ms_per_frame"] - results["views"]["cpu_ms_per_frame"]
    print(f"views save {saved:.2f} ms of CPU per frame over get_data")
    print(
        json.dumps(
            {
                "results": results,
                "copy_ms": limit,
                "frame_bytes": SHAPE[0] * SHAPE[1] * 2,
                "fps_requested": args.fps,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Whole volumes lost before a frame are handed on as gaps: the dispatcher stays alive (it beats)
while it does that, and the saver spends nothing on the pixels of a gap.

A saver that fell behind made the camera drop whole volumes; the dispatcher then handed on a gap
volume for each, every one taking a slot the saver freed within WRITE_TIMEOUT_S, so it never
beat: after 2 s the supervisor stopped the run as "dispatcher: not answering" (a 1.5-minute
tmpfs soak with a slowed saver, 2849 of 3555 frames dropped). The saver also wrote 84 MB of
zeros for each gap, so it never caught up.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from lightsheet.processes.assembly import RunAssembly
from lightsheet.processes.commands import RunPlan
from lightsheet.processes.frames import volume_meta_dtype
from lightsheet.runtime.ring import Ring
from lightsheet.storage import ChunkWriter, open_run
from tests.storage.test_storage_chunks import SHAPE, frames, volume

PLANES, HEIGHT, WIDTH = 4, 16, 16
GAPS = 30
DRAIN_S = 5.0


def _drain(ring: Ring, stop: threading.Event, taken: list[int]) -> None:
    """A saver that keeps up: frees each slot as soon as it is handed on."""
    while not stop.is_set():
        slot = ring.acquire_read(0.05)
        if slot is not None:
            taken.append(int(slot.meta["volume"]))
            ring.release(slot)


def test_handing_on_a_run_of_gap_volumes_beats_for_each(tmp_path):
    ring = Ring.create("tgaps", (PLANES * HEIGHT * WIDTH,), "<u2", 2,
                       volume_meta_dtype(PLANES), True)  # fmt: skip
    plan = RunPlan(run=1, out_dir=str(tmp_path), planes=PLANES, height=HEIGHT, width=WIDTH)
    beats: list[int] = []
    taken: list[int] = []
    stop = threading.Event()
    saver = threading.Thread(target=_drain, args=(ring, stop, taken), daemon=True)
    saver.start()
    try:
        assembly = RunAssembly(plan, ring, logging.getLogger("test"), lambda: None,
                               beat=lambda: beats.append(1))  # fmt: skip
        frame = np.ones((HEIGHT, WIDTH), np.uint16)
        assembly.place(frame, GAPS * PLANES, 0.0, 0.0, None)  # volumes 0..29 never arrived
        assert assembly.missing == GAPS * PLANES
        assert len(beats) >= GAPS, f"{len(beats)} heartbeats while {GAPS} gaps were handed on"
    finally:
        stop.set()
        saver.join(DRAIN_S)
        ring.close()
    assert taken == list(range(GAPS))


def test_a_missing_plane_costs_the_saver_no_pixel_write(tmp_path):
    table = frames(0, missing=(1, 3))
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 1) as writer:
        writer.write_volume(volume(0), table)
    assert sum(writer.planes_by_way) == SHAPE[0] - 2  # planes 0 and 2 only
    data = open_run(tmp_path)
    try:
        saved = data[0]
    finally:
        data.file.close()
    expected = volume(0)
    expected[[1, 3]] = 0  # a gap reads as zeros, as before
    np.testing.assert_array_equal(saved, expected)

"""The preview at the saver's limit: frames queued in the frame ring are shown from there.

When the saver holds every volume slot the dispatcher waits for one, and the camera's frames queue
in the frame ring behind it. The preview used to see a frame only once it was placed, so at the
disk's limit its latency was that backlog (295 ms p99 at 275 frames/s). It now looks ahead in the
frame ring while it waits, and a frame it showed that way is not shown again when it is placed.
"""

from __future__ import annotations

import threading

import numpy as np

from lightsheet.processes.assembly import Stopped
from lightsheet.processes.commands import TakeDark
from lightsheet.processes.dispatcher import DispatcherWorker
from tests.waiting import wait_until

from .harness import (
    HEIGHT,
    PLANES,
    WIDTH,
    Rings,
    acquire_state,
    dispatcher_in_process,
    frame_of,
    plan,
    pump,
)

VOLUMES = 4


class _Stepping:
    """The dispatcher's loop in a thread, as its process runs it, until told to stop."""

    def __init__(self, worker: DispatcherWorker) -> None:
        self._worker = worker
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.stopped_while_waiting = False

    def _run(self) -> None:
        while not self._worker.stop_event.is_set():
            try:
                self._worker.step()
            except Stopped:
                self.stopped_while_waiting = True
                return

    def __enter__(self) -> _Stepping:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.stop_event.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


def _shown_index(rings: Rings) -> int | None:
    latest = rings.preview.read_latest()
    return None if latest is None else latest[1]


def test_the_preview_shows_the_newest_volume_while_the_saver_holds_every_slot(tmp_path):
    rings = Rings(volume_slots=2)
    try:
        with dispatcher_in_process(rings, tmp_path) as worker:
            worker.on_settings(acquire_state(plan(1, tmp_path), preview=True, preview_hz=1e9))
            for frame_id in range(VOLUMES * PLANES):
                rings.frame(1, frame_id)
            with _Stepping(worker) as stepping:
                # Volumes 0 and 1 take both volume slots; the saver takes none, so volumes 2 and 3
                # are still in the frame ring, and volume 3 is what the camera saw last.
                wait_until(lambda: _shown_index(rings) == VOLUMES - 1, 5, "volume 3 shown")
                assert rings.volumes.counters().committed == 2
                shown, _, seq = rings.preview.read_latest()
                saved: list[dict] = []

                def saver_caught_up() -> bool:
                    saved.extend(rings.take_volumes())
                    return len(saved) == VOLUMES

                wait_until(saver_caught_up, 5, "the saver to take every volume")
            assert not stepping.stopped_while_waiting
            after, index, seq_after = rings.preview.read_latest()
    finally:
        rings.close()
    assert [v["volume"] for v in saved] == list(range(VOLUMES))
    np.testing.assert_array_equal(shown, saved[VOLUMES - 1]["data"])
    # Placing volumes 2 and 3 after the saver caught up showed nothing older again.
    assert (index, seq_after) == (VOLUMES - 1, seq)
    np.testing.assert_array_equal(after, shown)


def test_looking_ahead_subtracts_the_dark_and_shows_only_the_runs_own_frames(tmp_path):
    rings = Rings(volume_slots=2)
    try:
        with dispatcher_in_process(rings, tmp_path) as worker:
            worker.on_command(TakeDark(frames=1, epoch=5))
            rings.frame(5, 0, np.full((HEIGHT, WIDTH), 100, dtype=np.uint16))
            pump(worker, rings.frames)
            worker.on_settings(
                acquire_state(plan(1, tmp_path), preview=True, preview_hz=1e9, subtract_dark=True)
            )
            for frame_id in range(VOLUMES * PLANES):
                rings.frame(1, frame_id)
            rings.end(1, last_frame_id=VOLUMES * PLANES - 1)
            for frame_id in range(PLANES):  # the next run's first volume, queued behind the end
                rings.frame(2, frame_id, frame_of(frame_id, offset=7000))
            with _Stepping(worker):
                wait_until(lambda: _shown_index(rings) == VOLUMES - 1, 5, "volume 3 shown")
            # The look that showed volume 3 went on to the end of the ring before the stop was
            # seen: the next run's volume 0, queued behind the end, was not shown.
            shown, index, _ = rings.preview.read_latest()
    finally:
        rings.close()
    assert index == VOLUMES - 1
    expected = [frame_of((VOLUMES - 1) * PLANES + plane) - 100 for plane in range(PLANES)]
    np.testing.assert_array_equal(shown, np.stack(expected))

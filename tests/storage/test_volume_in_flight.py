"""A volume's planes written on a thread while the next is prepared: the caller's memory is read
until the writer says the volume landed, and a file never counts a volume still in flight."""

from __future__ import annotations

import shutil
import threading

import h5py
import numpy as np
import pytest

from lightsheet.storage import ChunkWriter
from lightsheet.storage.salvage import salvage_partial_chunks
from lightsheet.storage.volume_in_flight import VolumeInFlight
from tests.storage.test_storage_chunks import SHAPE, frames, read_all, volume


def counted_in_file(run_dir) -> int:
    """The volume count the open chunk's file holds now (what salvage would trust after a
    crash), read from a copy of its bytes: HDF5 opens a file once in a process."""
    (partial,) = (run_dir / "chunks").glob("*.partial")
    copy = run_dir / "copy.h5"
    shutil.copyfile(partial, copy)
    try:
        with h5py.File(copy, "r") as f:
            return int(f.attrs["volumes"])
    finally:
        copy.unlink()


def test_a_volume_in_flight_is_counted_in_its_file_only_once_landed(tmp_path):
    run = tmp_path / "run"
    writer = ChunkWriter(run, SHAPE, np.uint16, 8)
    try:
        written = [volume(i) for i in range(3)]
        writer.start_planes(list(written[0]), frames(0))
        assert writer.volumes_in_flight == 1  # its planes are still the writer's to read
        writer.start_planes(list(written[1]), frames(1))
        assert writer.volumes_in_flight == 1
        assert counted_in_file(run) == 1  # volume 0 landed before volume 1 started
        writer.finish_volumes()
        assert writer.volumes_in_flight == 0
        assert counted_in_file(run) == 2
        writer.start_planes(list(written[2]), frames(2))
    finally:
        writer.close()  # the last volume lands before the chunk is completed
    np.testing.assert_array_equal(read_all(run), np.stack(written))
    assert writer.write_seconds > 0


def test_a_writer_that_dies_with_a_volume_in_flight_leaves_the_volumes_before_it(tmp_path):
    """A crash now leaves the file as it is on disk: the copy of it made while the third volume
    is in flight is salvaged with the two before it, whole, and not the third."""
    run, crashed = tmp_path / "run", tmp_path / "crashed" / "chunks"
    crashed.mkdir(parents=True)
    written = [volume(i) for i in range(3)]
    with ChunkWriter(run, SHAPE, np.uint16, 8) as writer:
        for index, image in enumerate(written):
            writer.start_planes(list(image), frames(index))
        (partial,) = (run / "chunks").glob("*.partial")
        shutil.copyfile(partial, crashed / partial.name)
    assert salvage_partial_chunks(crashed.parent) == 2
    with h5py.File(crashed / "chunk-000000.h5", "r") as f:
        np.testing.assert_array_equal(f["data"][...], np.stack(written[:2]))


def test_compressed_volumes_are_written_before_start_planes_returns(tmp_path):
    with ChunkWriter(tmp_path / "run", SHAPE, np.uint16, 8, compression="blosc-lz4") as writer:
        writer.start_planes(list(volume(0)), frames(0))
        assert writer.volumes_in_flight == 0


def test_a_failed_write_in_flight_is_raised_by_the_next_call_and_nothing_is_read_after():
    in_flight = VolumeInFlight()
    reading = threading.Event()
    release = threading.Event()

    def failing() -> None:
        reading.set()
        release.wait(5)
        raise OSError(5, "EIO")

    in_flight.start(failing)
    assert reading.wait(5)
    with pytest.raises(RuntimeError, match="still in flight"):
        in_flight.start(lambda: None)
    release.set()
    with pytest.raises(OSError, match="EIO"):
        in_flight.wait()
    assert not in_flight.pending
    in_flight.close()


def test_the_bytes_written_are_those_of_the_planes_that_arrived(tmp_path):
    """bytes / writing time is the sink's speed: a gap's plane, never written, is not counted."""
    with ChunkWriter(tmp_path / "run", SHAPE, np.uint16, 8) as writer:
        writer.start_planes(list(volume(0)), frames(0, missing=(1, 3)))
        writer.start_planes(list(volume(1)), frames(1))
    plane_bytes = SHAPE[1] * SHAPE[2] * 2
    assert writer.bytes_written == (SHAPE[0] - 2 + SHAPE[0]) * plane_bytes

"""PlaneCompressor: a volume's planes compressed side by side come back in order, readable by
the Blosc2 HDF5 filter, and no plane is read once the caller may reuse its memory."""

from __future__ import annotations

import errno
import threading

import h5py
import numpy as np
import pytest

from lightsheet.storage import FRAMES_DTYPE, ChunkWriter, open_run
from lightsheet.storage import compression as compression_module
from lightsheet.storage.compression import PlaneCompressor


def camera_like_planes(count: int, shape: tuple[int, int] = (256, 256)) -> list[np.ndarray]:
    """A dark offset, read noise and a few bright spots: compressible, and different per plane."""
    rng = np.random.default_rng(count)
    planes = []
    for _ in range(count):
        plane = (100 + rng.normal(0, 2, shape)).astype(np.uint16)
        plane[rng.integers(0, shape[0], 20), rng.integers(0, shape[1], 20)] += 3000
        planes.append(plane)
    return planes


@pytest.mark.parametrize("count", [1, 3, 10])
def test_frames_come_back_in_plane_order_and_the_filter_reads_them(tmp_path, count):
    planes = camera_like_planes(count)
    compressor = PlaneCompressor("blosc-lz4", 5, threads=2)
    try:
        frames = list(compressor.compress_all(planes))
        with h5py.File(tmp_path / "c.h5", "w") as f:
            options = compressor.dataset_options()
            data = f.create_dataset("d", shape=(count, 256, 256), dtype=np.uint16,
                                    chunks=(1, 256, 256), **options)  # fmt: skip
            for index, frame in enumerate(frames):
                data.id.write_direct_chunk((index, 0, 0), frame)
        with h5py.File(tmp_path / "c.h5", "r") as f:
            np.testing.assert_array_equal(f["d"][...], np.stack(planes))
        assert sum(len(frame) for frame in frames) < sum(p.nbytes for p in planes) / 2
    finally:
        compressor.close()


def test_close_ends_the_compressing_threads():
    compressor = PlaneCompressor("blosc-lz4", 5, threads=2)
    list(compressor.compress_all(camera_like_planes(4)))
    assert any(t.name.startswith("compress") for t in threading.enumerate())
    compressor.close()
    assert not any(t.name.startswith("compress") for t in threading.enumerate())


def test_a_failed_write_returns_only_after_every_plane_is_compressed(tmp_path, monkeypatch):
    """The planes are the camera's frame slots: once the write fails the saver gives them back,
    so no thread may still be reading one."""
    real = PlaneCompressor.compress
    lock = threading.Lock()
    running = [0]

    def counted(self, plane, codec_threads=None):  # the real compressor, counted
        with lock:
            running[0] += 1
        try:
            return real(self, plane, codec_threads)
        finally:
            with lock:
                running[0] -= 1

    def write_back_fails(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(PlaneCompressor, "compress", counted)
    monkeypatch.setattr(compression_module, "start_writeback", write_back_fails)
    shape = (10, 1024, 1024)
    table = np.zeros(shape[0], dtype=FRAMES_DTYPE)
    table["plane"] = np.arange(shape[0])
    table["present"] = True
    volume = np.stack(camera_like_planes(shape[0], shape[1:]))
    writer = ChunkWriter(tmp_path, shape, np.uint16, 2, compression="blosc-lz4")
    with pytest.raises(OSError, match="Input/output"):
        writer.write_volume(volume, table)
    assert running[0] == 0
    writer.close()
    assert list((tmp_path / "chunks").glob("*.partial"))  # the failed chunk stays unfinished


def test_a_compressed_volume_with_gaps_reads_back_with_zeros_there(tmp_path):
    shape = (5, 256, 256)
    volume = np.stack(camera_like_planes(shape[0]))
    table = np.zeros(shape[0], dtype=FRAMES_DTYPE)
    table["plane"] = np.arange(shape[0])
    table["present"] = [True, False, True, True, False]
    table["frame_id"] = [0, -1, 2, 3, -1]
    with ChunkWriter(tmp_path, shape, np.uint16, 1, compression="blosc-lz4") as writer:
        writer.write_volume(volume, table)
    data = open_run(tmp_path)
    try:
        saved = data[0]
    finally:
        data.file.close()
    expected = volume.copy()
    expected[[1, 4]] = 0
    np.testing.assert_array_equal(saved, expected)


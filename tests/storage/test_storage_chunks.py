"""ChunkWriter: data, frames and waveforms read back exactly; chunk files appear whole or not
at all."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lightsheet.runtime.shm import create_block, release_block
from lightsheet.storage import (
    COMPRESSIONS,
    FRAMES_DTYPE,
    ChunkWriter,
    iter_frames_table,
    open_run,
    read_waveforms,
    volumes_per_chunk,
)
from lightsheet.storage import chunks as chunks_module
from lightsheet.storage.space import DiskFull

SHAPE = (4, 64, 64)


def volume(index: int) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 65536, SHAPE, dtype=np.uint16)


def frames(index: int, missing: tuple[int, ...] = ()) -> np.ndarray:
    planes = SHAPE[0]
    table = np.zeros(planes, dtype=FRAMES_DTYPE)
    table["frame_id"] = index * planes + np.arange(planes)
    table["camera_ts"] = index + np.arange(planes) / 100
    table["host_ts"] = 1000 + index + np.arange(planes) / 100
    table["volume"] = index
    table["plane"] = np.arange(planes)
    table["present"] = True
    for plane in missing:
        table["frame_id"][plane] = -1
        table["camera_ts"][plane] = np.nan
        table["present"][plane] = False
    return table


def write_run(run_dir, count: int, per_chunk: int, **options) -> ChunkWriter:
    with ChunkWriter(run_dir, SHAPE, np.uint16, per_chunk, **options) as writer:
        for index in range(count):
            writer.write_volume(volume(index), frames(index))
    return writer


def read_all(run_dir) -> np.ndarray:
    data = open_run(run_dir)
    try:
        return data[...]
    finally:
        data.file.close()


def test_volumes_per_chunk_fits_the_budget_and_is_at_least_one():
    assert volumes_per_chunk(100, 1000) == 10
    assert volumes_per_chunk(100, 1099) == 10
    assert volumes_per_chunk(100, 50) == 1
    with pytest.raises(ValueError):
        volumes_per_chunk(0, 1000)


def test_data_reads_back_volume_by_volume_over_several_chunks_and_a_partial_last(tmp_path):
    writer = write_run(tmp_path, count=7, per_chunk=3)

    assert (writer.volumes_written, writer.chunks_completed) == (7, 3)
    assert writer.bytes_written == 7 * volume(0).nbytes
    assert [(r.name, r.first_volume, r.volumes) for r in writer.chunk_records] == [
        ("chunk-000000.h5", 0, 3),
        ("chunk-000001.h5", 3, 3),
        ("chunk-000002.h5", 6, 1),
    ]
    data = open_run(tmp_path)
    try:
        assert data.shape == (7, *SHAPE) and data.dtype == np.uint16
        for index in range(7):
            np.testing.assert_array_equal(data[index], volume(index))
    finally:
        data.file.close()
    with h5py.File(tmp_path / "chunks" / "chunk-000002.h5", "r") as last:
        assert last["data"].shape == (1, *SHAPE)  # exactly the volumes written
        assert last["frames"].shape == (SHAPE[0],)
        assert (last.attrs["first_volume"], last.attrs["volumes"]) == (6, 1)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_compression_mode_round_trips_exactly(tmp_path, compression):
    write_run(tmp_path, count=3, per_chunk=2, compression=compression, compression_level=3)

    np.testing.assert_array_equal(read_all(tmp_path), np.stack([volume(i) for i in range(3)]))
    with h5py.File(tmp_path / "chunks" / "chunk-000000.h5", "r") as chunk:
        assert chunk["data"].chunks == (1, 1, SHAPE[1], SHAPE[2])
        assert chunk.attrs["compression"] == compression
        filters = chunk["data"]._filters
        assert ("32026" in filters) == (compression != "none")  # Blosc2's registered filter id


def test_compression_actually_shrinks_compressible_data(tmp_path):
    flat = np.zeros(SHAPE, dtype=np.uint16)
    sizes = {}
    for compression in ("none", "blosc-lz4"):
        run_dir = tmp_path / compression
        with ChunkWriter(run_dir, SHAPE, np.uint16, 4, compression=compression) as writer:
            for index in range(4):
                writer.write_volume(flat, frames(index))
        sizes[compression] = (run_dir / "chunks" / "chunk-000000.h5").stat().st_size
    assert sizes["none"] > 4 * flat.nbytes
    assert sizes["blosc-lz4"] < sizes["none"] / 4


def test_writes_straight_from_shared_memory_and_keeps_no_reference(tmp_path):
    block = create_block("storagetest", "vol", volume(0).nbytes)
    try:
        view = np.ndarray(SHAPE, dtype=np.uint16, buffer=block.buf)
        with ChunkWriter(tmp_path, SHAPE, np.uint16, 2) as writer:
            for index in range(3):
                view[...] = volume(index)
                writer.write_volume(view, frames(index))
        del view
        block.close()  # raises BufferError if anything still exports the mapping
    finally:
        release_block(block, unlink=True)
    np.testing.assert_array_equal(read_all(tmp_path), np.stack([volume(i) for i in range(3)]))


@pytest.mark.parametrize("compression", ["none", "blosc-lz4"])
def test_a_strided_view_is_written_correctly(tmp_path, compression):
    wide = np.zeros((SHAPE[0], SHAPE[1], 2 * SHAPE[2]), dtype=np.uint16)
    wide[:, :, ::2] = volume(0)
    strided = wide[:, :, ::2]
    assert not strided.flags.c_contiguous
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 2, compression=compression) as writer:
        writer.write_volume(strided, frames(0))
    np.testing.assert_array_equal(read_all(tmp_path)[0], volume(0))


def test_a_chunk_that_fails_to_complete_stays_partial(tmp_path, monkeypatch):
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 2)
    for index in range(2):
        writer.write_volume(volume(index), frames(index))

    def disk_full(partial, final):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(chunks_module, "publish", disk_full)
    writer.write_volume(volume(2), frames(2))
    with pytest.raises(DiskFull, match=r"disk full \(\d+ MB free on .*\) while completing a chunk"):
        writer.write_volume(volume(3), frames(3))
    with pytest.raises(RuntimeError, match="earlier write failed"):
        writer.write_volume(volume(4), frames(4))
    writer.close()

    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [
        "chunk-000000.h5",
        "chunk-000001.h5.partial",
    ]
    np.testing.assert_array_equal(read_all(tmp_path), np.stack([volume(0), volume(1)]))


def test_frames_table_holds_every_plane_with_gaps_recorded(tmp_path):
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 2) as writer:
        for index in range(3):
            gap = (1, 2) if index == 1 else ()
            writer.write_volume(volume(index), frames(index, missing=gap))

    table = iter_frames_table(tmp_path)
    expected = np.concatenate([frames(0), frames(1, missing=(1, 2)), frames(2)])
    assert table.dtype == FRAMES_DTYPE
    for name in ("frame_id", "volume", "plane", "present", "host_ts"):
        np.testing.assert_array_equal(table[name], expected[name])
    np.testing.assert_array_equal(table["camera_ts"], expected["camera_ts"])  # NaN where missing
    assert list(np.flatnonzero(~table["present"])) == [5, 6]


def test_extra_fields_of_the_callers_table_are_dropped(tmp_path):
    wider = np.dtype([*((n, FRAMES_DTYPE[n]) for n in FRAMES_DTYPE.names), ("run", "<i8")])
    table = np.zeros(SHAPE[0], dtype=wider)
    table["frame_id"] = [7, 8, 9, 10]
    with ChunkWriter(tmp_path, SHAPE, np.uint16, 1) as writer:
        writer.write_volume(volume(0), table)
    np.testing.assert_array_equal(iter_frames_table(tmp_path)["frame_id"], [7, 8, 9, 10])


def test_a_chunk_appears_under_its_final_name_only_when_complete(tmp_path):
    chunks = tmp_path / "chunks"
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 3)
    assert read_all(tmp_path).shape == (0, *SHAPE)  # the run opens before any volume
    for index in range(2):
        writer.write_volume(volume(index), frames(index))
        assert sorted(p.name for p in chunks.iterdir()) == ["chunk-000000.h5.partial"]
        assert read_all(tmp_path).shape == (0, *SHAPE)  # the partial is not indexed

    writer.write_volume(volume(2), frames(2))
    writer.write_volume(volume(3), frames(3))
    assert sorted(p.name for p in chunks.iterdir()) == [
        "chunk-000000.h5",
        "chunk-000001.h5.partial",
    ]
    assert read_all(tmp_path).shape == (3, *SHAPE)

    writer.close()
    writer.close()
    assert sorted(p.name for p in chunks.iterdir()) == ["chunk-000000.h5", "chunk-000001.h5"]
    assert not list(tmp_path.glob("*.partial"))
    assert read_all(tmp_path).shape == (4, *SHAPE)
    with pytest.raises(RuntimeError):
        writer.write_volume(volume(4), frames(4))


def test_closing_on_a_chunk_boundary_adds_no_empty_chunk(tmp_path):
    write_run(tmp_path, count=4, per_chunk=2)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [
        "chunk-000000.h5",
        "chunk-000001.h5",
    ]


def test_a_run_without_volumes_still_opens(tmp_path):
    write_run(tmp_path, count=0, per_chunk=2)
    assert read_all(tmp_path).shape == (0, *SHAPE)
    assert iter_frames_table(tmp_path).shape == (0,)
    assert not list((tmp_path / "chunks").iterdir())


def test_attrs_and_waveforms_are_stored_in_chunks_and_dataset(tmp_path):
    galvo = np.linspace(-1.0, 1.0, 50)
    waveforms = {
        "sample_rate_hz": 100_000.0,
        "channels": {"galvo": galvo, "piezo": np.zeros(50)},
        "channel_map": {"galvo": "Dev1/ao0", "piezo": "Dev1/ao1"},
    }
    attrs = {"objective": "16x", "exposure_ms": 5.0, "config": {"rig": "sim", "lasers": [488]}}
    write_run(tmp_path, count=3, per_chunk=2, attrs=attrs, waveforms=waveforms)

    stored = read_waveforms(tmp_path)
    assert stored is not None
    assert stored["sample_rate_hz"] == 100_000.0
    assert stored["channel_map"] == waveforms["channel_map"]
    np.testing.assert_array_equal(stored["channels"]["galvo"], galvo)
    for path in (tmp_path / "dataset.h5", tmp_path / "chunks" / "chunk-000001.h5"):
        with h5py.File(path, "r") as stored_file:
            assert stored_file.attrs["objective"] == "16x"
            assert stored_file.attrs["exposure_ms"] == 5.0
            assert stored_file.attrs["config"] == '{"rig": "sim", "lasers": [488]}'
            assert list(stored_file.attrs["volume_shape"]) == list(SHAPE)
            np.testing.assert_array_equal(stored_file["waveforms/channels/galvo"][...], galvo)
    with h5py.File(tmp_path / "dataset.h5", "r") as index:
        assert list(index["chunk_files"].asstr()[...]) == ["chunk-000000.h5", "chunk-000001.h5"]
        assert index.attrs["volumes"] == 3


def test_rejects_what_does_not_fit_the_run(tmp_path):
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 2)
    with pytest.raises(ValueError, match="expected"):
        writer.write_volume(np.zeros((4, 64, 32), np.uint16), frames(0))
    with pytest.raises(ValueError, match="expected"):
        writer.write_volume(volume(0).astype(np.float32), frames(0))
    with pytest.raises(ValueError, match="shape"):
        writer.write_volume(volume(0), frames(0)[:3])
    with pytest.raises(ValueError, match="present"):
        writer.write_volume(volume(0), frames(0)[["frame_id", "camera_ts"]])
    # a rejected volume leaves the writer usable
    writer.write_volume(volume(0), frames(0))
    writer.close()
    assert read_all(tmp_path).shape == (1, *SHAPE)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"compression": "gzip"}, "compression"),
        ({"compression": "blosc-lz4", "compression_level": 12}, "level"),
        ({"attrs": {"volumes": 3}}, "reserved"),
    ],
)
def test_rejects_bad_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        ChunkWriter(tmp_path, SHAPE, np.uint16, 2, **options)


def test_refuses_a_folder_that_already_holds_a_run(tmp_path):
    write_run(tmp_path, count=1, per_chunk=2)
    with pytest.raises(FileExistsError):
        ChunkWriter(tmp_path, SHAPE, np.uint16, 2)
    assert read_all(tmp_path).shape == (1, *SHAPE)

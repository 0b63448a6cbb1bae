"""summarize_run / format_summary: what `lightsheet inspect` reports about a run folder."""

from __future__ import annotations

import numpy as np
import pytest

from lightsheet.storage import (
    FRAMES_DTYPE,
    ChunkWriter,
    FrameGap,
    RunError,
    format_summary,
    iter_frames_table,
    open_run,
    summarize_run,
    write_metadata,
)
from lightsheet.storage.run_reader import summary_as_dict

SHAPE = (5, 16, 16)


def frames(index: int, missing: tuple[int, ...] = ()) -> np.ndarray:
    table = np.zeros(SHAPE[0], dtype=FRAMES_DTYPE)
    table["frame_id"] = index * SHAPE[0] + np.arange(SHAPE[0])
    table["volume"] = index
    table["plane"] = np.arange(SHAPE[0])
    table["present"] = True
    table["present"][list(missing)] = False
    table["frame_id"][list(missing)] = -1
    return table


def finished_run(run_dir, gaps: dict[int, tuple[int, ...]], volumes: int = 6) -> None:
    write_metadata(run_dir, {"start_time": "2024-05-01T12:00:00+00:00", "stop_reason": "running"})
    with ChunkWriter(run_dir, SHAPE, np.uint16, 4, compression="blosc-lz4") as writer:
        for index in range(volumes):
            table = frames(index, gaps.get(index, ()))
            writer.write_volume(np.full(SHAPE, index, np.uint16), table)
    write_metadata(
        run_dir,
        {
            "start_time": "2024-05-01T12:00:00+00:00",
            "stop_time": "2024-05-01T12:01:30.500+00:00",
            "stop_reason": "completed",
            "frames_acquired": volumes * SHAPE[0] + 7,
            "frames_dropped": 7,
            "volumes_saved": volumes,
        },
    )


def test_summary_of_a_finished_run_with_gaps(tmp_path):
    # gaps: the last plane of volume 1 and the first two of volume 2 (one gap across volumes),
    # and plane 3 of volume 5
    finished_run(tmp_path, gaps={1: (4,), 2: (0, 1), 5: (3,)})
    summary = summarize_run(tmp_path)

    assert summary.shape == (6, *SHAPE)
    assert summary.dtype == "uint16"
    assert summary.compression == "blosc-lz4"
    assert summary.volumes_saved == 6
    assert (summary.frames_acquired, summary.frames_dropped) == (37, 7)
    assert summary.missing_frames == 4
    assert summary.gaps == [FrameGap(1, 4, 3), FrameGap(5, 3, 1)]
    assert summary.duration_s == pytest.approx(90.5)
    assert summary.stop_reason == "completed"
    assert summary.chunk_files == ["chunk-000000.h5", "chunk-000001.h5"]
    assert summary.partial_files == [] and summary.unindexed_chunks == []
    assert summary.total_bytes == sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert summary.problems == []

    text = format_summary(summary)
    assert "stop reason:   completed" in text
    assert "duration:      90.5 s" in text
    assert "(t, z, y, x) = (6, 5, 16, 16) uint16, compression blosc-lz4" in text
    assert "37 acquired, 7 dropped, 4 missing" in text
    assert "volume 1 plane 4 (3 frames), volume 5 plane 3 (1 frame)" in text
    assert "2 chunk file(s), 0 unfinished" in text
    assert "writing:" not in text  # recorded without the saver's timing: nothing is made up
    assert "warning" not in text


def test_summary_says_how_fast_the_disk_took_the_run(tmp_path):
    finished_run(tmp_path, gaps={})
    metadata = summarize_run(tmp_path).metadata
    saver = {"bytes_written": 2_000_000_000, "write_s": 0.8, "write_gbps": 2.5}
    write_metadata(tmp_path, {**metadata, "saver": saver})
    summary = summarize_run(tmp_path)
    text = format_summary(summary)
    # A compressed run: the time includes compressing, so it is not called the disk's speed.
    assert "writing:       1.9 GiB in 0.8 s of writing: 2.50 GB/s of pixels, compressing" in text
    assert "(1 % of the run spent writing)" in text  # 0.8 s of a 90.5 s run
    assert summary_as_dict(summary)["saver"] == saver


def test_a_slow_write_is_shown_in_mb_per_second_not_as_zero(tmp_path):
    """A tiny run on a loaded machine: 98 KB in 0.34 s of writing is 0.289 MB/s, not 0.00 GB/s."""
    finished_run(tmp_path, gaps={})
    metadata = summarize_run(tmp_path).metadata
    saver = {"bytes_written": 98_304, "write_s": 0.340215, "write_gbps": 0.000288941}
    write_metadata(tmp_path, {**metadata, "saver": saver})
    text = format_summary(summarize_run(tmp_path))
    assert "0.3 s of writing: 0.289 MB/s of pixels" in text


@pytest.mark.parametrize(
    ("planes", "said"),
    [
        ({"direct": 120, "mapped": 0, "page_cache": 0}, "written O_DIRECT"),
        ({"direct": 0, "mapped": 120, "page_cache": 0}, "written through 2 MiB-page mappings"),
        ({"direct": 0, "mapped": 0, "page_cache": 120}, "written through the page cache"),
        (
            {"direct": 118, "mapped": 0, "page_cache": 2},
            "written 118 O_DIRECT, 2 through the page cache",
        ),
    ],
)
def test_the_summary_names_the_way_the_planes_were_written(tmp_path, planes, said):
    finished_run(tmp_path, gaps={})
    metadata = summarize_run(tmp_path).metadata
    saver = {"bytes_written": 2_000_000_000, "write_s": 0.8, "write_gbps": 2.5,
             "planes_written": planes}  # fmt: skip
    write_metadata(tmp_path, {**metadata, "saver": saver})
    text = format_summary(summarize_run(tmp_path))
    (line,) = [line for line in text.splitlines() if line.startswith("writing:")]
    assert line.endswith(f"of the run spent writing); planes {said}")


def test_summary_flags_an_interrupted_run(tmp_path):
    write_metadata(tmp_path, {"start_time": "2024-05-01T12:00:00+00:00", "stop_reason": "running"})
    writer = ChunkWriter(tmp_path, SHAPE, np.uint16, 2)
    for index in range(3):
        writer.write_volume(np.zeros(SHAPE, np.uint16), frames(index))
    # the writer "dies" here: chunk 1 stays partial, and a complete chunk published just before
    # a crash is not yet indexed
    (tmp_path / "chunks" / "chunk-000002.h5").write_bytes(
        (tmp_path / "chunks" / "chunk-000000.h5").read_bytes()
    )
    summary = summarize_run(tmp_path)

    assert summary.volumes_saved == 2
    assert summary.frames_acquired is None and summary.duration_s is None
    assert summary.partial_files == ["chunks/chunk-000001.h5.partial"]
    assert summary.unindexed_chunks == ["chunk-000002.h5"]
    problems = "\n".join(summary.problems)
    assert "did not end cleanly" in problems
    assert "chunks/chunk-000001.h5.partial" in problems
    assert "chunk-000002.h5" in problems
    text = format_summary(summary)
    assert "frames:        unknown acquired, unknown dropped, 0 missing" in text
    assert text.count("warning:") == 3
    writer.close()


def test_summary_flags_disagreeing_volume_counts(tmp_path):
    finished_run(tmp_path, gaps={}, volumes=2)
    write_metadata(tmp_path, {"stop_reason": "completed", "volumes_saved": 5})
    assert any("records 5 volumes" in problem for problem in summarize_run(tmp_path).problems)


def test_a_run_whose_saver_never_started(tmp_path):
    write_metadata(tmp_path, {"stop_reason": "fault: camera died"})
    summary = summarize_run(tmp_path)
    assert summary.shape is None and summary.volumes_saved == 0
    assert any("no dataset.h5" in problem for problem in summary.problems)
    assert "data:          none" in format_summary(summary)


def test_folders_that_are_not_runs_raise_one_line_errors_naming_the_path(tmp_path):
    def error(path) -> str:
        with pytest.raises(RunError) as caught:
            summarize_run(path)
        message = str(caught.value)
        assert "\n" not in message
        return message

    missing = tmp_path / "nowhere"
    assert str(missing) in error(missing) and "not a directory" in error(missing)
    assert "no metadata.json" in error(tmp_path) and str(tmp_path) in error(tmp_path)

    (tmp_path / "metadata.json").write_text("{not json")
    assert "metadata.json" in error(tmp_path) and "JSON" in error(tmp_path)

    write_metadata(tmp_path, {"stop_reason": "completed"})
    (tmp_path / "dataset.h5").write_bytes(b"not an HDF5 file")
    assert "dataset.h5" in error(tmp_path)
    with pytest.raises(RunError, match=r"dataset\.h5"):
        open_run(tmp_path)
    with pytest.raises(RunError, match=r"dataset\.h5"):
        iter_frames_table(tmp_path / "nowhere")


def test_open_run_is_read_only(tmp_path):
    finished_run(tmp_path, gaps={}, volumes=2)
    data = open_run(tmp_path)
    try:
        assert data.file.mode == "r"
        assert int(data[1, 0, 0, 0]) == 1
        with pytest.raises((OSError, ValueError, KeyError)):
            data[0] = 0
    finally:
        data.file.close()


def test_a_file_published_while_the_run_is_summarized_is_not_an_error(tmp_path, monkeypatch):
    """A rewrite of dataset.h5 (the saver's index child) renames its .partial file while the
    run is read: a file that vanishes between the listing and its size is left out, not an
    error (the main process summarized a run the saver was still writing, and failed so)."""
    finished_run(tmp_path, {})
    partial = tmp_path / "dataset.h5.partial"
    partial.write_bytes(b"x" * 100)
    listing = type(tmp_path).rglob

    def then_published(self, pattern):
        yield from listing(self, pattern)
        partial.unlink(missing_ok=True)  # after the listing, before anything else looks at it

    monkeypatch.setattr(type(tmp_path), "rglob", then_published)
    summary = summarize_run(tmp_path)
    assert summary.volumes_saved == 6
    assert summary.total_bytes > 0

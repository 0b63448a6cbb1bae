"""metadata.json's ``saver`` section: the sink's speed in the run, never rounded away."""

from __future__ import annotations

from lightsheet.app.acquisition import _saver_section
from lightsheet.processes.commands import RunClosed


def closed(
    bytes_written: int, write_s: float, planes: tuple[int, int, int] = (0, 0, 0)
) -> RunClosed:
    return RunClosed(run=1, ended=True, frames_acquired=12, frames_dropped=0, frames_missing=0,
                     volumes_saved=3, chunks=1, bytes_written=bytes_written,
                     write_s=write_s, planes_by_way=planes)  # fmt: skip


def test_a_slow_small_run_records_its_speed_not_zero():
    """98 KB that took 0.34 s to write (a loaded machine, a tiny test run): 0.29 MB/s, which
    three decimals of GB/s had recorded as 0.0."""
    section = _saver_section(closed(98_304, 0.340215))
    assert section["write_gbps"] > 0
    assert abs(section["write_gbps"] - 98_304 / 0.340215 / 1e9) < 1e-6


def test_a_fast_run_keeps_its_figure_and_no_time_means_no_speed():
    assert _saver_section(closed(2_000_000_000, 0.8))["write_gbps"] == 2.5
    assert "write_gbps" not in _saver_section(closed(0, 0.0))


def test_the_section_says_which_way_the_planes_went():
    """How the saver wrote is why the run ran at the speed it did: O_DIRECT on a disk, mapped
    on 2 MiB pages on a tmpfs at huge=advise, the page cache elsewhere."""
    section = _saver_section(closed(2_000_000_000, 0.8, (118, 0, 2)))
    assert section["planes_written"] == {"direct": 118, "mapped": 0, "page_cache": 2}


def test_a_compressed_run_names_no_way():
    """Compressed planes go through HDF5's chunk writes, which the saver does not count."""
    assert "planes_written" not in _saver_section(closed(2_000_000_000, 0.8))

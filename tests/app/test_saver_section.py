"""metadata.json's ``saver`` section: the sink's speed in the run, never rounded away."""

from __future__ import annotations

from lightsheet.app.acquisition import _saver_section
from lightsheet.processes.commands import RunClosed


def closed(bytes_written: int, write_s: float) -> RunClosed:
    return RunClosed(run=1, ended=True, frames_acquired=12, frames_dropped=0, frames_missing=0,
                     volumes_saved=3, chunks=1, bytes_written=bytes_written,
                     write_s=write_s)  # fmt: skip


def test_a_slow_small_run_records_its_speed_not_zero():
    """98 KB that took 0.34 s to write (a loaded machine, a tiny test run): 0.29 MB/s, which
    three decimals of GB/s had recorded as 0.0."""
    section = _saver_section(closed(98_304, 0.340215))
    assert section["write_gbps"] > 0
    assert abs(section["write_gbps"] - 98_304 / 0.340215 / 1e9) < 1e-6


def test_a_fast_run_keeps_its_figure_and_no_time_means_no_speed():
    assert _saver_section(closed(2_000_000_000, 0.8))["write_gbps"] == 2.5
    assert "write_gbps" not in _saver_section(closed(0, 0.0))

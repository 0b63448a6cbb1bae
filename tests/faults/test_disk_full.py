"""A disk that fills up mid-run, and one too full to start: on a small tmpfs the test mounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.cli_helpers import lightsheet, popen, write_config
from tests.pipeline.rigs import small_rig
from tests.small_tmpfs import small_tmpfs

from .cli_runs import CliRun, assert_nothing_left, assert_truthful

DISK_MB = 40


# huge=advise: the saver copies planes through a mapping there (storage/mapped_fill.py), and the
# run must stop the same way (a mapped copy that finds no room: tests/storage/test_mapped_fill.py).
@pytest.fixture(params=["", ",huge=advise"], ids=["tmpfs", "tmpfs-huge-advise"])
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", f"size={DISK_MB}m{request.param}") as mount:
        yield mount


def test_a_disk_that_fills_mid_run_stops_it_cleanly(tmp_path: Path, small_disk: Path) -> None:
    config = small_rig(4, size=128, exposure_ms=2.0)
    config.saving.chunk_ram_mb = 0.5  # four volumes per chunk file
    path = write_config(config, tmp_path / "rig.yaml")
    folder = small_disk / "run"
    process = popen("acquire", "--config", str(path), "--volumes", "100000",
                    "--out", str(folder), "--quiet")  # fmt: skip
    run = CliRun(process, folder)
    code, stdout, stderr = run.finish(timeout=120)
    assert code == 1, stderr
    assert "Traceback" not in stdout + stderr
    metadata = assert_truthful(run)
    assert metadata["stop_reason"].startswith("fault: saver: disk full (")
    assert f"MB free on {small_disk}" in metadata["stop_reason"]
    assert metadata["volumes_saved"] > 0
    assert_nothing_left(run)


def test_a_disk_too_full_to_start_is_refused_in_one_line(tmp_path: Path, small_disk: Path) -> None:
    config = small_rig(4, size=128)  # its default chunk budget (64 MB) is more than the disk
    path = write_config(config, tmp_path / "rig.yaml")
    folder = small_disk / "run"
    result = lightsheet("acquire", "--config", str(path), "--volumes", "10", "--out", str(folder))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lightsheet acquire: disk full ("), lines
    assert not list((folder / "logs").iterdir()), "no process may have started"

"""A run of the real ``lightsheet acquire`` in a subprocess, and what it leaves behind."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import h5py
import psutil

from lightsheet.runtime.shm import list_blocks, owner_pid
from lightsheet.storage.run_reader import iter_frames_table, summarize_run
from tests.cli.cli_helpers import popen, write_config
from tests.pipeline.rigs import log_pid, small_rig
from tests.waiting import wait_until

PROCESSES = ("scanner", "camera", "dispatcher", "saver")


@dataclass
class CliRun:
    process: subprocess.Popen
    folder: Path

    def pid_of(self, name: str) -> int:
        return wait_until(lambda: log_pid(self.folder, name), 60, f"the {name} process")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        finally:
            self.process.kill()
        return self.process.returncode, stdout, stderr

    def metadata(self) -> dict:
        return json.loads((self.folder / "metadata.json").read_text())

    def completed_chunks(self) -> int:
        return len(list((self.folder / "chunks").glob("*.h5")))


def start_run(tmp_path: Path, volumes: int = 1000, **rig: object) -> CliRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = small_rig(4, exposure_ms=float(rig.pop("exposure_ms", 5.0)))
    config.saving.chunk_ram_mb = float(rig.pop("chunk_ram_mb", 0.02))  # a volume per chunk
    path = write_config(config, tmp_path / "rig.yaml")
    folder = tmp_path / "run"
    process = popen("acquire", "--config", str(path), "--volumes", str(volumes),
                    "--out", str(folder), "--quiet")  # fmt: skip
    return CliRun(process, folder)


def assert_nothing_left(run: CliRun) -> None:
    """Every process of the run gone, every block it made removed."""
    pids = [p for p in (log_pid(run.folder, n) for n in PROCESSES) if p is not None]
    wait_until(lambda: not any(_alive(p) for p in pids), 5, "every process of the run to end")
    mine = [b for b in list_blocks() if owner_pid(b) == run.process.pid]
    assert mine == [], mine


def assert_truthful(run: CliRun) -> dict:
    """Every completed chunk readable, the index mapping exactly them, the numbers the files'."""
    metadata = run.metadata()
    chunks = sorted((run.folder / "chunks").glob("*.h5"))
    volumes = 0
    for path in chunks:
        with h5py.File(path, "r") as chunk:
            volumes += chunk["data"].shape[0]
            chunk["data"][-1]  # readable to the end
    summary = summarize_run(run.folder)
    assert summary.volumes_saved == volumes == metadata["volumes_saved"]
    assert summary.unindexed_chunks == []
    if volumes:
        present = iter_frames_table(run.folder)["present"]
        assert metadata["frames_saved"] == int(present.sum())
        assert metadata["frames_missing"] == int((~present).sum())
    return metadata


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

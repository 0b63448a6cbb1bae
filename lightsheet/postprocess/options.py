"""What an operator asks `lightsheet process` to do, and how progress is reported back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# auto: the shared-array pool when the run fits in memory, dask (a LocalCluster) when not.
ENGINES = ("auto", "processes", "threads", "dask")


class ProcessingInputError(Exception):
    """Bad input (not a run, unreadable or mismatched dark/flat, bad option): one line."""


@dataclass(frozen=True)
class ProcessOptions:
    run_dir: Path
    out_dir: Path
    dark: Path | None = None
    flat: Path | None = None
    max_projection: bool = False
    bin_factor: int = 1
    workers: int | None = None
    scheduler: str | None = None
    engine: str = "auto"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ProcessingInputError(f"engine must be one of {', '.join(ENGINES)}")
        if self.bin_factor < 1:
            raise ProcessingInputError(f"--bin must be at least 1, got {self.bin_factor}")
        if self.workers is not None and self.workers < 1:
            raise ProcessingInputError(f"--workers must be at least 1, got {self.workers}")
        if self.scheduler and self.engine not in ("auto", "dask"):
            raise ProcessingInputError(f"--scheduler runs on dask, not on --engine {self.engine}")


@dataclass(frozen=True)
class Step:
    """Progress of one phase: ``done`` of ``total`` ``unit``s."""

    phase: str
    done: int
    total: int
    unit: str


ProgressFn = Callable[[Step], None]

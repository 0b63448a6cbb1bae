"""What the saver pays per chunk to rewrite dataset.h5, as a run's chunk count grows.

After every completed chunk the saver rewrites the run's index (``write_dataset_file``): a
virtual dataset over *every* chunk so far, the waveforms copied from chunk 0, fsync, rename,
fsync of the folder. Its cost therefore grows with the run's length; a soak at a steady rate
shows it as saver CPU per frame rising from the first to the last minutes. This measures one
rewrite with N chunk records, the same call on the same layout as a 2048 x 2048 x 10 run, in a
temporary folder of the disk (`--out`, default runs/).

    .venv/bin/python benchmarks/index_scaling.py [--counts 1,100,1000,4000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightsheet.storage.chunks import FRAMES_DTYPE, ChunkWriter
from lightsheet.storage.virtual import ChunkRecord, chunk_file_name, write_dataset_file

VOLUME_SHAPE = (10, 2048, 2048)
REPEATS = 3


def rewrite_seconds(run_dir: Path, count: int) -> float:
    """Best of REPEATS: one index rewrite over `count` one-volume chunk records."""
    records = [ChunkRecord(chunk_file_name(i), i, 1) for i in range(count)]
    best = float("inf")
    for _ in range(REPEATS):
        began = time.perf_counter()
        write_dataset_file(run_dir, records, VOLUME_SHAPE, np.dtype("<u2"), FRAMES_DTYPE, {})
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,100,1000,4000")
    parser.add_argument("--out", default=str(Path.cwd() / "runs"))
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    parent = Path(args.out)
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="index-scaling-", dir=parent) as tmp:
        run_dir = Path(tmp)
        # A real chunk 0 (the rewrite opens it for the waveforms); the others need not exist.
        with ChunkWriter(run_dir, (1, 16, 16), "<u2", 1, waveforms={"piezo": [0.0, 1.0]}) as w:
            rows = np.zeros(1, dtype=FRAMES_DTYPE)
            w.write_volume(np.zeros((1, 16, 16), dtype="<u2"), rows)
        figures = {str(count): round(rewrite_seconds(run_dir, count) * 1000, 2) for count in counts}
    print("dataset.h5 rewrite after a chunk, ms, by chunks in the run: " +
          ", ".join(f"{k}: {v}" for k, v in figures.items()))  # fmt: skip
    print(json.dumps({"index_rewrite_ms": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well and how fast the saver's compression packs the simulated sample, outside the pipeline.

The frames are the simulated camera's own (the benchmark rig: dark background at the camera
offset, 400 sparse beads, shot noise and read noise), compressed exactly as the saver does for
``saving.compression: blosc-lz4`` (``lightsheet.storage.compression.PlaneCompressor``: Blosc2,
LZ4, level 5, bit shuffle, a volume's planes side by side on its threads, one HDF5 chunk per
plane written with ``write_direct_chunk``) into an HDF5 file held in memory, so neither a disk
nor the pipeline limits it. Beside it, the HDF5 filter pipeline (the Blosc filter, one chunk at
a time on the writing thread; BLOSC_NTHREADS sets its threads) is the way the saver compressed
before.
"""

from __future__ import annotations

import os
import time
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from benchmarks.pipeline_run import bench_rig, first_frames
from lightsheet.storage.compression import PlaneCompressor

GB = 1e9
MIN_SECONDS = 1.0


def _in_memory_file() -> h5py.File:
    return h5py.File(f"mem-{os.getpid()}-{time.monotonic_ns()}.h5", "w", driver="core",
                     backing_store=False)  # fmt: skip


def _saver_path(frames: list[np.ndarray], threads: int) -> tuple[int, float, int]:
    """(compressed bytes, seconds, pixel bytes): the saver's way, planes compressed by Blosc2."""
    compressor = PlaneCompressor("blosc-lz4", 5, threads=threads)
    height, width = frames[0].shape
    with _in_memory_file() as f:
        data = f.create_dataset(
            "data", shape=(len(frames), height, width), dtype=np.uint16,
            chunks=(1, height, width), **compressor.dataset_options(),
        )  # fmt: skip
        began = time.perf_counter()
        # The frames are one volume's planes: compressed side by side, written in order.
        for index, chunk in enumerate(compressor.compress_all(frames)):
            data.id.write_direct_chunk((index, 0, 0), chunk)
        f.flush()
        seconds = time.perf_counter() - began
        stored = data.id.get_storage_size()
    compressor.close()
    return stored, seconds, sum(frame.nbytes for frame in frames)


def _filter_pipeline(frames: list[np.ndarray], threads: int) -> tuple[int, float, int]:
    """The same through HDF5's filter pipeline (the Blosc filter), the former way."""
    os.environ["BLOSC_NTHREADS"] = str(threads)
    height, width = frames[0].shape
    with _in_memory_file() as f:
        data = f.create_dataset(
            "data", shape=(len(frames), height, width), dtype=np.uint16,
            chunks=(1, height, width),
            **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE),
        )  # fmt: skip
        began = time.perf_counter()
        for index, frame in enumerate(frames):
            data.write_direct(frame, dest_sel=np.s_[index])
        f.flush()
        seconds = time.perf_counter() - began
        stored = data.id.get_storage_size()
    return stored, seconds, sum(frame.nbytes for frame in frames)


def _rate(way, frames: list[np.ndarray], threads: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(GB/s of pixels, ratio) over at least MIN_SECONDS."""
    stored = pixels = 0
    seconds = 0.0
    while seconds < MIN_SECONDS:
        s, t, p = way(frames, threads)
        stored, seconds, pixels = stored + s, seconds + t, pixels + p
    return pixels / seconds / GB, pixels / stored


def compression_figures(threads: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Ratio of the simulated sample under blosc-lz4 and the compression speed per thread count,
    the saver's way (``gbps_N_threads``) and the filter pipeline's (``filter_pipeline``)."""
    frames = first_frames(bench_rig(20.0))
    figures: dict[str, Any] = {"frames": len(frames), "shape": list(frames[0].shape)}
    previous = os.environ.get("BLOSC_NTHREADS")
    pipeline: dict[str, str] = {}
    try:
        for count in threads:
            gbps, ratio = _rate(_saver_path, frames, count)
            figures["ratio"] = round(ratio, 3)
            figures[f"gbps_{count}_threads"] = round(gbps, 3)
            gbps, ratio = _rate(_filter_pipeline, frames, count)
            pipeline[f"{count} thread(s)"] = f"{gbps:.3f} GB/s, ratio {ratio:.2f}"
    finally:
        if previous is None:
            os.environ.pop("BLOSC_NTHREADS", None)
        else:
            os.environ["BLOSC_NTHREADS"] = previous
    figures["blosc2"] = pipeline  # shown as the baseline line of the report
    figures["background_counts"] = int(np.median(frames[0]))
    figures["bright_share"] = round(float(np.mean(frames[0] > 2 * np.median(frames[0]))), 4)
    return figures

"""How well and how fast the saver's compression packs the simulated sample, outside the pipeline.

The frames are the simulated camera's own (the benchmark rig: dark background at the camera
offset, 400 sparse beads, shot noise and read noise), compressed with exactly the filter the
saver uses for ``saving.compression: blosc-lz4`` (Blosc, LZ4, level 5, bit shuffle, one HDF5
chunk per plane) into an HDF5 file held in memory, so neither a disk nor the pipeline limits it.
Blosc's threads are set with BLOSC_NTHREADS, which the filter reads on every call; the saver
itself runs with whatever its environment says (unset: one thread).
"""

from __future__ import annotations

import os
import time
from typing import Any

import h5py
import numpy as np

from benchmarks.pipeline_run import bench_rig, first_frames
from lightsheet.storage.chunks import _compression_filter

GB = 1e9
MIN_SECONDS = 1.0


def _compress_planes(frames: list[np.ndarray], compression: str) -> tuple[int, float, int]:
    """(compressed bytes, seconds, pixel bytes) to write the planes once through the filter."""
    height, width = frames[0].shape
    with h5py.File(f"mem-{os.getpid()}-{time.monotonic_ns()}.h5", "w", driver="core",
                   backing_store=False) as f:  # fmt: skip
        data = f.create_dataset(
            "data", shape=(len(frames), height, width), dtype=np.uint16,
            chunks=(1, height, width), **_compression_filter(compression, 5),
        )  # fmt: skip
        began = time.perf_counter()
        for index, frame in enumerate(frames):
            data.write_direct(frame, dest_sel=np.s_[index])
        f.flush()
        seconds = time.perf_counter() - began
        stored = data.id.get_storage_size()
    return stored, seconds, sum(frame.nbytes for frame in frames)


def compression_figures(threads: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Ratio of the simulated sample under blosc-lz4 and the compression speed per thread count."""
    frames = first_frames(bench_rig(20.0))
    figures: dict[str, Any] = {"frames": len(frames), "shape": list(frames[0].shape)}
    previous = os.environ.get("BLOSC_NTHREADS")
    try:
        for count in threads:
            os.environ["BLOSC_NTHREADS"] = str(count)
            stored = pixels = 0
            seconds = 0.0
            while seconds < MIN_SECONDS:
                s, t, p = _compress_planes(frames, "blosc-lz4")
                stored, seconds, pixels = stored + s, seconds + t, pixels + p
            figures["ratio"] = round(pixels / stored, 3)
            figures[f"gbps_{count}_threads"] = round(pixels / seconds / GB, 3)
    finally:
        if previous is None:
            os.environ.pop("BLOSC_NTHREADS", None)
        else:
            os.environ["BLOSC_NTHREADS"] = previous
    figures["blosc2"] = blosc2_figures(frames, threads)
    figures["background_counts"] = int(np.median(frames[0]))
    figures["bright_share"] = round(float(np.mean(frames[0] > 2 * np.median(frames[0]))), 4)
    return figures


def blosc2_figures(frames: list[np.ndarray], threads: tuple[int, ...]) -> dict[str, Any]:
    """The same codec (LZ4, level 5, bit shuffle) through python-blosc2 with its own threads,
    one frame per call, as `write_direct_chunk` of pre-compressed planes would use it."""
    try:
        import blosc2
    except ImportError:
        return {"error": "python-blosc2 is not installed (pip install blosc2)"}
    figures: dict[str, Any] = {}
    for count in threads:
        cparams = {"codec": blosc2.Codec.LZ4, "clevel": 5, "nthreads": count,
                   "filters": [blosc2.Filter.BITSHUFFLE], "typesize": 2}  # fmt: skip
        stored = pixels = 0
        began = time.perf_counter()
        while time.perf_counter() - began < MIN_SECONDS:
            for frame in frames:
                stored += len(blosc2.compress2(frame, **cparams))
                pixels += frame.nbytes
        seconds = time.perf_counter() - began
        figures[f"{count} thread(s)"] = (f"{pixels / seconds / GB:.3f} GB/s, "
                                         f"ratio {pixels / stored:.2f}")  # fmt: skip
    return figures

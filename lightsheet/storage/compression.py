"""Planes compressed by Blosc2 in parallel, one plane per thread, written as whole HDF5 chunks.

The HDF5 filter pipeline compresses one chunk at a time on the writing thread. Instead, each
plane (one HDF5 chunk) is compressed here by Blosc2 (LZ4 or Zstd after a bit shuffle, which
suits camera counts: a dark offset and sparse bright structure) and handed to
``H5Dwrite_chunk`` as it is. The bytes are a Blosc2 frame, exactly what the registered Blosc2
HDF5 filter (hdf5plugin) reads, so any reader with hdf5plugin decompresses them transparently;
the dataset is declared with that filter.

The planes of a volume are compressed side by side, one per thread of a small pool, with the
GIL released inside Blosc2 (``blosc2.set_releasegil``): the writer writes plane p while plane
p+1 and later ones are still being compressed, and the per-plane work outside the codec (the
frame's header, its copies) runs in parallel too. One Blosc2 call using every core on one plane
at a time, the former way, left 0.4 of this 2-core machine idle at the saver's limit, because
nothing overlapped the writes, the fsync and that per-plane work. A volume of one plane
(planar mode) still gets every core, inside Blosc2.

Blosc2 is imported by the first compressor, not with this module: every process that saves or
reads a run imports ``lightsheet.storage``, and Blosc2 (with what it imports) took a quarter to a
third of a second of each one's start, the camera's and the dispatcher's included, which never
compress. hdf5plugin, which registers the filter that reads compressed runs, stays imported here.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Literal

import h5py
import hdf5plugin
import numpy as np

from lightsheet.storage.durable import start_writeback
from lightsheet.storage.heap import keep_large_blocks

COMPRESSIONS = ("none", "blosc-lz4", "blosc-zstd")
_CODECS: dict[str, Literal["lz4", "zstd"]] = {"blosc-lz4": "lz4", "blosc-zstd": "zstd"}


class PlaneCompressor:
    """``compress_all(planes)`` gives the bytes of one HDF5 chunk per plane, in order;
    ``dataset_options`` declares the filter that reads them. ``close`` ends its threads."""

    def __init__(self, compression: str, level: int, threads: int | None = None) -> None:
        if compression not in _CODECS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}: "
                             f"{compression!r}")  # fmt: skip
        if not 0 <= level <= 9:
            raise ValueError(f"Blosc compression level must be 0..9, got {level}")
        import blosc2  # here, not with the module: the module docstring says why

        cname = _CODECS[compression]
        self._schunk = blosc2.SChunk
        self._cname = cname
        self._level = int(level)
        self._threads = max(1, threads or os.cpu_count() or 1)
        self._cparams = {
            "clevel": self._level,
            "codec": blosc2.Codec[cname.upper()],
            "filters": [blosc2.Filter.BITSHUFFLE],
            "filters_meta": [0],
        }
        self._pool: ThreadPoolExecutor | None = None
        # Process-wide, and what the pool needs: without it the threads take turns.
        blosc2.set_releasegil(True)
        # Process-wide too: each plane's buffers reused, not mapped afresh (heap.py says why).
        keep_large_blocks()

    def dataset_options(self) -> dict[str, Any]:
        return dict(
            hdf5plugin.Blosc2(
                cname=self._cname, clevel=self._level, filters=hdf5plugin.Blosc2.BITSHUFFLE
            )
        )

    def compress(self, plane: np.ndarray, codec_threads: int | None = None) -> bytes:
        """One plane (C-contiguous) as a Blosc2 frame; Blosc2 itself uses ``codec_threads``
        (all the compressor's threads unless given)."""
        params = {
            "typesize": plane.dtype.itemsize,
            "nthreads": codec_threads or self._threads,
            **self._cparams,
        }
        schunk = self._schunk(chunksize=plane.nbytes, data=plane, cparams=params)
        return bytes(schunk.to_cframe())

    def compress_all(self, planes: Sequence[np.ndarray]) -> Generator[bytes, None, None]:
        """Each plane's frame, in order, the planes compressed side by side.

        The planes are read until this generator is exhausted or closed: close it (``with
        contextlib.closing(...)``) before a plane's memory may be reused. Closing it waits for
        the planes being compressed, so none is read afterwards.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="compress")
        side_by_side = min(self._threads, len(planes)) or 1
        codec_threads = max(1, self._threads // side_by_side)
        futures: list[Future[bytes]] = [
            self._pool.submit(self.compress, plane, codec_threads) for plane in planes
        ]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()
            wait(futures)

    def write_planes(
        self,
        dataset: h5py.Dataset,
        volume: int,
        planes: Sequence[int],
        images: Sequence[np.ndarray],
    ) -> None:
        """Compress ``images`` and write each as ``dataset``'s chunk (volume, plane), in order,
        starting the file's writeback after each (``durable.start_writeback``)."""
        compressed = self.compress_all(images)
        fd = dataset.file.id.get_vfd_handle()
        try:
            for plane, chunk in zip(planes, compressed, strict=True):
                dataset.id.write_direct_chunk((volume, plane, 0, 0), chunk)
                start_writeback(fd)
        finally:
            compressed.close()  # no thread reads the caller's planes after this

    def close(self) -> None:
        """End the pool's threads (a later ``compress_all`` starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

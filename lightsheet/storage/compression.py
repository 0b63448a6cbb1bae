"""Planes compressed by Blosc2 with its own threads, written as whole HDF5 chunks.

The HDF5 filter pipeline compresses one chunk at a time on the writing thread. Instead, each
plane (one HDF5 chunk) is compressed here by Blosc2 with every core it is given (LZ4 or Zstd
after a bit shuffle, which suits camera counts: a dark offset and sparse bright structure) and
handed to ``H5Dwrite_chunk`` as it is. The bytes are a Blosc2 frame, exactly what the registered
Blosc2 HDF5 filter (hdf5plugin) reads, so any reader with hdf5plugin decompresses them
transparently; the dataset is declared with that filter.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import blosc2
import hdf5plugin
import numpy as np

COMPRESSIONS = ("none", "blosc-lz4", "blosc-zstd")
_CODECS: dict[str, tuple[blosc2.Codec, Literal["lz4", "zstd"]]] = {
    "blosc-lz4": (blosc2.Codec.LZ4, "lz4"),
    "blosc-zstd": (blosc2.Codec.ZSTD, "zstd"),
}


class PlaneCompressor:
    """``compress(plane)`` gives the bytes of one HDF5 chunk; ``dataset_options`` declares the
    filter that reads them."""

    def __init__(self, compression: str, level: int, threads: int | None = None) -> None:
        if compression not in _CODECS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}: "
                             f"{compression!r}")  # fmt: skip
        if not 0 <= level <= 9:
            raise ValueError(f"Blosc compression level must be 0..9, got {level}")
        codec, cname = _CODECS[compression]
        self._cname = cname
        self._level = int(level)
        self._cparams = {
            "clevel": self._level,
            "codec": codec,
            "filters": [blosc2.Filter.BITSHUFFLE],
            "filters_meta": [0],
            "nthreads": max(1, threads or os.cpu_count() or 1),
        }

    def dataset_options(self) -> dict[str, Any]:
        return dict(
            hdf5plugin.Blosc2(
                cname=self._cname, clevel=self._level, filters=hdf5plugin.Blosc2.BITSHUFFLE
            )
        )

    def compress(self, plane: np.ndarray) -> bytes:
        """One plane (C-contiguous) as a Blosc2 frame, compressed on every thread given."""
        params = {"typesize": plane.dtype.itemsize, **self._cparams}
        schunk = blosc2.SChunk(chunksize=plane.nbytes, data=plane, cparams=params)
        return bytes(schunk.to_cframe())

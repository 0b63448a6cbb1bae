"""Giving the memory HDF5 freed back to the operating system.

dataset.h5 maps every chunk file of a run through a virtual dataset, and building one over N
chunks allocates O(N) small HDF5 objects. Freed, they are held twice over:

- HDF5 keeps freed blocks on its own free lists for reuse, one list per block size. Each rewrite
  of a growing index frees blocks of sizes no list has yet, so the lists held more after every
  rewrite: the saver grew 0.75 kB per chunk (12 000 chunks) until ``H5garbage_collect`` emptied
  them after each rewrite (0.04 kB).
- glibc keeps freed small blocks in the process's heap for reuse: a saver that rewrote the index
  after every few chunks grew +313 MB (8.9 MB per minute) in a 30-minute soak of 12960
  one-volume chunks. ``malloc_trim`` returns that memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache

import h5py


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim this way
        return None
    return trim


@cache
def _hdf5_garbage_collect() -> Callable[[], int] | None:
    """``H5garbage_collect`` of the libhdf5 h5py uses: h5py's extension module links it, and a
    symbol looked up through the module's handle is found in the libraries it links."""
    try:
        collect: Callable[[], int] = ctypes.CDLL(h5py.h5.__file__).H5garbage_collect
    except (OSError, AttributeError):  # a static or unusual build: leave the lists alone
        return None
    return collect


def return_freed_memory() -> None:
    """Empty HDF5's free lists into the heap, then hand the heap's free memory back to the OS
    (glibc); each step is skipped where it is not possible."""
    collect = _hdf5_garbage_collect()
    if collect is not None:
        collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

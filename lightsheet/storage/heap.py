"""Giving the memory HDF5 freed back to the operating system, and keeping large blocks that a
process frees and allocates again at a rate (``keep_large_blocks``, the compressor's buffers).

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
def _c_function(library: str | None, name: str) -> Callable[..., int] | None:
    """A C function of ``library`` (a path, or a name for ``find_library``), or None where the
    library or the symbol is not there (not glibc: musl, macOS; a static or unusual HDF5)."""
    path = library if library is None or "/" in library else ctypes.util.find_library(library)
    if path is None:
        return None
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL(path), name)
    except (OSError, AttributeError):
        return None
    return function


def return_freed_memory() -> None:
    """Empty HDF5's free lists into the heap, then hand the heap's free memory back to the OS
    (glibc); each step is skipped where it is not possible.

    ``H5garbage_collect`` is looked up through h5py's own extension module, which links the
    libhdf5 h5py uses: a symbol found through a module's handle is searched in what it links.
    """
    collect = _c_function(h5py.h5.__file__, "H5garbage_collect")
    if collect is not None:
        collect()
    trim = _c_function("c", "malloc_trim")
    if trim is not None:
        trim(0)


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 32 * 1024 * 1024  # glibc's ceiling for the mmap threshold on 64-bit
KEPT_FREE_BYTES = 512 * 1024 * 1024


def keep_large_blocks() -> bool:
    """Serve blocks up to ``LARGE_BLOCK_BYTES`` from the heap and keep up to
    ``KEPT_FREE_BYTES`` of freed heap, instead of mapping each large block afresh (glibc's
    ``mallopt``); False where that is not possible (not glibc).

    Why: compressing a plane allocates Blosc2's buffers (a copy of the plane, its frame: 2-8 MB
    each) and frees them. Above glibc's mmap threshold every one was new memory, faulted in,
    zeroed by the kernel and unmapped again, plane after plane. In the compressed pipeline at 80
    frames/s (three pairs of 20 s runs alternating) the saver spent 15.8-17.1 ms of CPU a frame,
    37 % of it in the kernel, and 11.1-12.5 ms (12 %) with the blocks kept. The memory kept is
    bounded: the same few buffers are reused.
    """
    mallopt = _c_function("c", "mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_BYTES)
    )

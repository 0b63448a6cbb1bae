"""A process that allocates and frees the same large buffers over and over (the compressor, a
plane at a time) gets them back from its heap after ``keep_large_blocks``, instead of new memory
that the kernel must fault in and zero each time: counted as the process's minor page faults."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CYCLES = 20
PROBE = """
import ctypes, resource, sys
from lightsheet.storage.heap import keep_large_blocks
if sys.argv[1] == "kept":
    assert keep_large_blocks()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 8 * 1024 * 1024
block = libc.malloc(size); ctypes.memset(block, 1, size); libc.free(block)  # warm up
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(int(sys.argv[2])):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)  # a plane's bytes written into it
    libc.free(block)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(way: str) -> int:
    result = subprocess.run([sys.executable, "-c", PROBE, way, str(CYCLES)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="not glibc: no mallopt")
def test_large_blocks_kept_are_reused_without_new_page_faults():
    fresh, kept = _faults("fresh"), _faults("kept")
    assert fresh >= CYCLES  # each 8 MB block was new memory, faulted in again
    assert kept * 4 < fresh

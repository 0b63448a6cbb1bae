"""dataset.h5 rewritten by a child process of the saver, so the saver never stops writing for it.

A rewrite maps every chunk of the run, so it costs more with every chunk (0.44 s at 9000 chunks
here). Done in the saver it stopped the writing for that long, and at 152 frames/s a 10-minute
run dropped frames from minute 6 on; its transient O(chunks) allocations also passed through
the saver's heap. Here one child per run takes the rewrites. It is started when the run opens,
before the camera's first frame: its start (Python, numpy and h5py, about 0.7 s of CPU) used to
come at the first chunk, and at 205 frames/s on tmpfs the first volumes were then written at
half speed and the camera dropped frames. Then:

- the saver sends the volume count of every complete chunk (8 bytes each; names and first
  volumes follow from them) over the child's stdin, and goes on writing;
- the child rewrites dataset.h5 exactly as ``write_dataset_file`` does in-process (atomically,
  complete chunk files only) and answers on its stdout with the seconds it took, or its error;
- one rewrite is in flight at a time, so the indexes publish in the order they were asked for;
  the last one of a run is asked for by ``finish``, which waits for it.

The child ends at the end of its stdin when the saver closes it, and is killed with the saver
(Linux's parent-death signal) if the saver dies: after a saver's death the main process rebuilds
dataset.h5 from the chunk files, and a rewrite the child held, published after that, would hide
the chunks completed since (a killed-saver test found it mapping 1 volume of 2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import IO, Any, NoReturn

import numpy as np

from lightsheet.storage.virtual import chunk_records, write_dataset_file

CHILD_CODE = (
    "import sys; from lightsheet.storage.index_child import serve; "
    "serve(sys.stdin.buffer, sys.stdout.buffer, parent={parent})"
)
PR_SET_PDEATHSIG = 1
# The child's heap keeps part of each rewrite's O(chunks) transient memory (+1 MB/min in a
# 10-minute soak at 140 frames/s): a child is replaced after this many rewrites, which bounds
# it by what one rewrite leaves, for 0.7 s of CPU per start.
REWRITES_PER_CHILD = 16
WAIT_SLICE_S = 0.5  # a wait for the child notices its death within this
EXIT_TIMEOUT_S = 10.0


class IndexWriteFailed(Exception):
    """The child could not rewrite dataset.h5; ``errno`` is set when the OS refused a write."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class IndexChild:
    """The saver's side: start the child, hand it rewrites, collect their answers."""

    def __init__(
        self,
        run_dir: str | Path,
        volume_shape: tuple[int, int, int],
        dtype: np.dtype,
        frames_dtype: np.dtype,
        attrs: dict[str, Any],
    ) -> None:
        self._setup = {
            "run_dir": str(run_dir),
            "volume_shape": tuple(volume_shape),
            "dtype": np.dtype(dtype),
            "frames_dtype": np.dtype(frames_dtype),
            "attrs": attrs,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._busy = False
        self._rewrites = 0  # by the running child
        self._used = False
        self.cost = 0.0  # seconds the last rewrite took in the child

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def used(self) -> bool:
        """Whether a rewrite was ever asked of a child (the run is long enough for one)."""
        return self._used

    def start(self) -> None:
        """Start a child now unless one runs; it waits for its first rewrite."""
        if self._process is None:
            self._process = _start_child()
            self._rewrites = 0
            self._send(self._setup)

    def submit(self, counts: array[int]) -> None:
        """Ask for dataset.h5 over the chunks whose volume counts are ``counts``; not while busy."""
        if self._busy:
            raise RuntimeError("a dataset.h5 rewrite is already in flight")
        self.start()
        self._send(counts.tobytes())
        self._busy = self._used = True

    def poll(self) -> bool:
        """Collect the answer of the rewrite in flight if it has come; True once none is in
        flight. Raises IndexWriteFailed for a rewrite that failed or a child that died."""
        if not self._busy:
            return True
        assert self._process is not None and self._process.stdout is not None
        readable, _, _ = select.select([self._process.stdout], [], [], 0)
        if readable:
            self._receive()
        elif self._process.poll() is not None:
            self._died()
        return not self._busy

    def finish(self, counts: array[int] | None) -> None:
        """Wait for the rewrite in flight, then (unless ``counts`` is None) rewrite dataset.h5
        over ``counts`` and wait for that one too; the child then exits. Raises IndexWriteFailed
        as ``poll`` does."""
        try:
            self._wait()
            if counts is not None:
                self.submit(counts)
                self._wait()
        finally:
            self.close()

    def close(self) -> None:
        """End the child (after the rewrite it holds, if any); safe to call twice."""
        process, self._process = self._process, None
        self._busy = False
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):  # it died already
            process.stdin.close()
        try:
            process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def _wait(self) -> None:
        while not self.poll():
            assert self._process is not None and self._process.stdout is not None
            select.select([self._process.stdout], [], [], WAIT_SLICE_S)

    def _send(self, message: Any) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            pickle.dump(message, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
        except OSError:  # a broken pipe: the child died
            self._died()

    def _receive(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        try:
            answer = pickle.load(self._process.stdout)
        except (EOFError, pickle.UnpicklingError):
            self._died()
        self._busy = False
        if answer[0] == "error":
            raise IndexWriteFailed(f"rewriting dataset.h5 failed: {answer[2]}", answer[1])
        self.cost = float(answer[1])
        self._rewrites += 1
        if self._rewrites >= REWRITES_PER_CHILD:
            self.close()  # the next rewrite starts a fresh child

    def _died(self) -> NoReturn:
        assert self._process is not None
        code = self._process.wait()
        self._busy = False
        raise IndexWriteFailed(f"the dataset.h5 writer (pid {self._process.pid}) exited ({code})")


def _start_child() -> subprocess.Popen[bytes]:
    """The child runs ``serve`` with the saver's interpreter; the package's folder leads its
    path so it imports this very lightsheet whatever the working directory. (Not ``-m``: the
    package imports this module first, and runpy would then run a second copy of it.)"""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_CODE.format(parent=os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        close_fds=True,
    )


def die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` (the saver's main thread) ends, and
    end now if it already has. Where prctl does not exist (not Linux), the child ends at the
    end of its stdin only."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (AttributeError, OSError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def serve(requests: IO[bytes], answers: IO[bytes], parent: int | None = None) -> None:
    """The child: the run's setup, then one rewrite per message until the end of ``requests``."""
    if parent is not None:
        die_with(parent)
    try:
        setup = pickle.load(requests)
    except EOFError:
        return
    while True:
        try:
            payload = pickle.load(requests)
        except EOFError:
            return
        counts = array("q")
        counts.frombytes(payload)
        began = time.monotonic()
        try:
            write_dataset_file(
                setup["run_dir"],
                chunk_records(counts),
                setup["volume_shape"],
                setup["dtype"],
                setup["frames_dtype"],
                setup["attrs"],
            )
            answer: tuple[Any, ...] = ("ok", time.monotonic() - began)
        except Exception as exc:  # told to the saver, which fails the run with it
            answer = ("error", getattr(exc, "errno", None), f"{type(exc).__name__}: {exc}")
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:
            return  # the saver closed its end: nobody is waiting for the answer

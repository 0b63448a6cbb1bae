"""One acquisition's Aravis stream: buffers over memory lightsheet owns, frame ids, losses.

Aravis fills the buffers pushed to a stream in the order they were pushed. Every buffer here is
created over memory the caller owns (``Aravis.Buffer.new(size, address)``), either a ring slot
lent through FrameViews or a frame of the camera's own pool for ``read_into``; ``get_data()``
would copy, so frames are read through numpy views of that same memory.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.hardware.camera.aravis import abandon
from lightsheet.hardware.camera.frame_ids import FrameCounter
from lightsheet.hardware.camera.protocol import CameraError, FrameInfo, LostFrame

_log = logging.getLogger(__name__)

POP_SLICE_S = 0.05  # a blocked read notices stop() and a lost camera within this
# GigE Vision: the camera sends each frame as one burst of packets, and the kernel drops what does
# not fit the stream socket while Aravis's receiver thread waits for a core. The socket holds
# GIGE_SOCKET_FRAMES frames (Aravis's "auto" holds one, and shrinks it below the kernel's default
# for small frames), and a frame is given up as incomplete only after 0.5 s instead of 0.1 s, so
# a receiver thread the scheduler delays loses nothing. The socket is sized before the
# acquisition starts (size_receive_buffer; Aravis would size it at the first frame's leader), past
# net.core.rmem_max where the process holds CAP_NET_ADMIN and capped there where it does not.
GIGE_SOCKET_FRAMES = 8
GIGE_FRAME_RETENTION_US = 500_000
RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux's value; Python does not name it
GVSP_ID_SPAN = 0xFFFF  # GigE Vision 1.x block ids run 1..65535 and skip 0 when they wrap


def buffer_over(aravis: Any, memory: np.ndarray) -> Any:
    """An Aravis buffer whose image lands in ``memory`` (which must outlive it)."""
    return aravis.Buffer.new(memory.nbytes, memory.ctypes.data)


def widen_in_place(view: np.ndarray) -> None:
    """Turn the 8-bit image Aravis wrote into the first half of a uint16 view into uint16 counts.

    Rows are converted from the end in blocks [r0, r1) with r1 <= 2 * r0, so a block's 16-bit
    destination never overlaps its own 8-bit source: log2(height) copies and no scratch memory.
    """
    height, width = view.shape
    source = view.reshape(-1).view(np.uint8)[: height * width].reshape(height, width)
    end = height
    while end > 1:
        start = (end + 1) // 2
        np.copyto(view[start:end], source[start:end])
        end = start
    if height:
        first = source[0].copy()
        view[0] = first


class FramePool:
    """The camera's own frames for ``read_into``: memory lightsheet allocates, Aravis fills."""

    def __init__(self, aravis: Any, count: int) -> None:
        self._aravis = aravis
        self._count = count
        self._memory: dict[int, np.ndarray] = {}  # id of the Aravis buffer: its memory
        self._buffers: list[Any] = []

    def buffers(self, nbytes: int) -> list[Any]:
        """``count`` buffers of ``nbytes`` each (the same ones while the size stays)."""
        if not self._buffers or next(iter(self._memory.values())).nbytes != nbytes:
            memory = [np.empty(nbytes, dtype=np.uint8) for _ in range(self._count)]
            self._buffers = [buffer_over(self._aravis, m) for m in memory]
            self._memory = {id(b): m for b, m in zip(self._buffers, memory, strict=True)}
        return self._buffers

    def copy_out(self, buffer: Any, frame: np.ndarray, eight_bit: bool) -> None:
        """Copy the image in ``buffer`` into ``frame`` (uint16), widening 8-bit pixels."""
        memory = self._memory[id(buffer)]
        pixels = frame.size
        source = memory[:pixels] if eight_bit else memory[: 2 * pixels].view("<u2")
        np.copyto(frame, source.reshape(frame.shape))

    def clear(self) -> None:
        self._memory, self._buffers = {}, []


class StreamRun:
    """The stream of one start: push buffers, pop them in order, turn them into FrameInfo."""

    def __init__(
        self, aravis: Any, camera: Any, lost_signal: threading.Event, frame_bytes: int
    ) -> None:
        if camera.is_gv_device():
            # With CAP_NET_RAW (root), Aravis receives through a packet socket that takes every
            # packet on the interface until its filter is attached, and parses them as GVSP: a
            # stray packet starts a frame that never completes, and the first frame is lost
            # (38 starts in 40 under loopback traffic). The plain UDP socket sees the camera's
            # packets only, and is the one GIGE_SOCKET_FRAMES sizes.
            camera.gv_set_stream_options(aravis.GvStreamOption.PACKET_SOCKET_DISABLED)
        try:
            self._stream = camera.create_stream(None, None)
        except Exception as exc:
            raise CameraError(f"genicam: cannot open the image stream: {_text(exc)}") from None
        self._aravis = aravis
        self._lost_signal = lost_signal
        # Only the in-process Fake camera skips a frame it has no buffer for without a jump in
        # its ids; every other stream's ids jump, which FrameCounter counts already.
        self._counts_underruns = isinstance(self._stream, aravis.FakeStream)
        self._underruns_before = 0  # the Fake stream's count when the buffers were queued
        if isinstance(self._stream, aravis.GvStream):
            socket_bytes = min(GIGE_SOCKET_FRAMES * frame_bytes, 2**30)
            # A FIXED size of 0 keeps Aravis's hands off the socket sized here, which it would
            # cut back to net.core.rmem_max at the first frame.
            self._stream.set_property("socket-buffer", aravis.GvStreamSocketBuffer.FIXED)
            granted = size_receive_buffer(int(self._stream.get_port()), socket_bytes)
            if not granted:  # the socket was not found: Aravis sizes it at the first frame
                self._stream.set_property("socket-buffer-size", socket_bytes)
            if granted < 2 * frame_bytes:
                warn_if_socket_capped(frame_bytes)
            self._stream.set_property("frame-retention", GIGE_FRAME_RETENTION_US)
        self.counter = FrameCounter(wrap=GVSP_ID_SPAN)
        self.failed = 0  # buffers that came back incomplete

    def begin(self, buffers: Iterable[Any]) -> None:
        """Queue the start's buffers. The Fake stream's thread ticks from the stream's creation
        and counts each tick without a buffer; those before these buffers are no frame."""
        if self._counts_underruns:
            self._underruns_before = self._raw_underruns()
        for buffer in buffers:
            self.push(buffer)

    def push(self, buffer: Any) -> None:
        self._stream.push_buffer(buffer)

    def pop(self, timeout_s: float, halt: threading.Event) -> Any | None:
        """The next finished buffer, or None on timeout or once ``halt`` is set."""
        deadline = time.monotonic() + timeout_s
        while not halt.is_set():
            if self._lost_signal.is_set():
                raise CameraError(
                    "genicam: the camera stopped answering (unplugged, powered off or taken "
                    "over by another program)"
                )
            left = deadline - time.monotonic()
            buffer = self._stream.timeout_pop_buffer(int(max(min(left, POP_SLICE_S), 0) * 1e6))
            if buffer is not None:
                return buffer
            if left <= POP_SLICE_S:
                return None
        return None

    def describe(self, buffer: Any, shape: tuple[int, int]) -> FrameInfo | LostFrame:
        """What a popped buffer holds: a whole frame of ``shape``, or a lost one."""
        status = buffer.get_status()
        if status != self._aravis.BufferStatus.SUCCESS:
            # An incomplete buffer may still carry the id of its previous frame: not trusted.
            self.failed += 1
            frame_id = self.counter.advance_untrusted()
            return LostFrame(frame_id, f"stream buffer {status.value_nick}")
        frame_id = self.counter.advance(int(buffer.get_frame_id()))
        size = (buffer.get_image_height(), buffer.get_image_width())
        if size != shape:
            raise CameraError(f"genicam: the camera sent a {size} frame, {shape} was set")
        stamp_ns = buffer.get_timestamp() or buffer.get_system_timestamp()
        return FrameInfo(frame_id, stamp_ns * 1e-9, time.time())

    @property
    def underruns(self) -> int:
        """Frames the in-process Fake camera skipped for want of a buffer (0 for other streams)."""
        if not self._counts_underruns or self._stream is None:
            return 0
        return self._raw_underruns() - self._underruns_before

    def _raw_underruns(self) -> int:
        return int(self._aravis.Stream.get_statistics(self._stream)[2])

    def close(self, reachable: bool = True) -> None:
        """Release the stream (its thread stops); buffers stay alive through their owners. The
        stream of a camera that stopped answering is abandoned (see ``aravis.abandon``)."""
        stream, self._stream = self._stream, None
        if not reachable:
            abandon(stream)


def size_receive_buffer(port: int, nbytes: int) -> int:
    """Give this process's UDP socket bound to ``port`` a receive buffer of ``nbytes`` now, and
    return the bytes of payload the kernel granted (0: no such socket found).

    Aravis sizes its stream socket only when the first frame's leader arrives, so the first frame
    met the kernel's default (212 992 bytes here) and a 1 MB frame lost packets while the
    receiver thread woke. Aravis does not expose the socket; it is found among this process's
    descriptors (Linux). With CAP_NET_ADMIN the size is forced past net.core.rmem_max (as the
    packet socket's 32 MB ring was, for root); without it the kernel caps it there.
    """
    try:
        links = list(Path("/proc/self/fd").iterdir())
    except OSError:
        return 0
    for link in links:
        try:
            if not os.readlink(link).startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(link.name))) as candidate:
                if (
                    candidate.family != socket.AF_INET
                    or candidate.type != socket.SOCK_DGRAM
                    or candidate.getsockname()[1] != port
                ):
                    continue
                try:
                    candidate.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, nbytes)
                except PermissionError:
                    candidate.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, nbytes)
                # The kernel reports twice the payload it grants (the rest is its bookkeeping).
                return candidate.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        except OSError:
            continue  # closed since the listing
    _log.debug("genicam: no UDP socket on port %d to size; Aravis sizes it at frame 0", port)
    return 0


def warn_if_socket_capped(frame_bytes: int) -> None:
    """Say so when the kernel will not let the stream socket hold two frames: then a receiver
    thread delayed by one frame period loses packets, and only the operator can raise the cap."""
    try:
        cap = int(RMEM_MAX.read_text())
    except (OSError, ValueError):
        return  # not Linux, or /proc unreadable: nothing to say
    if cap < 2 * frame_bytes:
        _log.warning(
            "genicam: the kernel caps socket buffers at %d bytes (net.core.rmem_max), under two "
            "%d-byte frames; a busy machine will drop packets: raise it, e.g. "
            "`sysctl -w net.core.rmem_max=%d`",
            cap,
            frame_bytes,
            GIGE_SOCKET_FRAMES * frame_bytes,
        )


def _text(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc)

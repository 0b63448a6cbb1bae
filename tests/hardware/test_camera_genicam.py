"""The GenICam backend against Aravis's own simulated cameras: the camera contract, the test image
with frame ids and no drops, and frames received straight into lent views.

Two cameras: Aravis's in-process Fake camera (``Fake_1``), and ``arv-fake-gv-camera-0.8`` on
127.0.0.1, which streams over the real GigE Vision path (GVCP control, GVSP packets on loopback).

The contract is the shipped ``CameraContract``, run against the Fake camera and over GigE Vision.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from lightsheet.hardware.camera import genicam_stream
from lightsheet.hardware.camera.genicam import GenicamCamera
from lightsheet.hardware.camera.genicam_stream import GIGE_SOCKET_FRAMES
from lightsheet.hardware.camera.protocol import Camera, CameraError, FrameInfo
from lightsheet.testing.camera_contract import CameraContract
from tests.hardware.aravis_sim import LOOPBACK, fake_pattern, gige_simulator, stream_id_of

GIGE_PACKET_SIZE = 8192  # loopback's MTU is 64 KiB: fewer, larger packets
READ_TIMEOUT_S = 5.0


def fake_camera(**options: object) -> GenicamCamera:
    return GenicamCamera("Fake_1", **options)  # type: ignore[arg-type]


def gige_camera(**options: object) -> GenicamCamera:
    options.setdefault("packet_size", GIGE_PACKET_SIZE)
    return GenicamCamera(LOOPBACK, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gige() -> Iterator[None]:
    """The GigE Vision simulator, for this module's tests that use it."""
    with gige_simulator():
        yield


class TestGenicamFake(CameraContract):
    """The contract against Aravis's in-process Fake camera (no network)."""

    def make_camera(self) -> Camera:
        return fake_camera()


@pytest.mark.usefixtures("gige")
class TestGenicamGige(CameraContract):
    """The contract over the real GigE Vision stream path, the simulator on 127.0.0.1."""

    def make_camera(self) -> Camera:
        # 8-bit frames at 25 frames/s keep full-sensor (2048 x 2048) contract reads light.
        return gige_camera(pixel_format="Mono8")

    @pytest.fixture
    def camera(self) -> Iterator[Camera]:
        with self.make_camera() as opened:
            opened.set_exposure_ms(40.0)
            yield opened
        assert not opened.is_open

    def test_stop_from_another_thread_ends_a_blocked_read(self, camera: Camera) -> None:
        # The simulator sends its first frame within 0.1 s of AcquisitionStart whatever the
        # period, so "the longest exposure: no frame before stop" cannot hold for it;
        # test_stop_ends_a_blocked_read_on_the_network_path checks the promise on this path.
        pytest.skip("arv-fake-gv-camera sends its first frame at once")


def test_stop_ends_a_blocked_read_on_the_network_path(gige: None) -> None:
    with gige_camera() as camera:
        camera.set_trigger_mode("external")  # Line0: nothing is wired, no frame ever comes
        camera.start()
        results: list[FrameInfo | None] = []
        reading = threading.Event()

        def reader() -> None:
            reading.set()
            results.append(camera.read_into(np.empty(camera.frame_shape, np.uint16), 600.0))

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        assert reading.wait(10.0)
        camera.stop()
        thread.join(10.0)
        assert not thread.is_alive(), "read_into kept blocking after stop"
    assert results == [None]


def udp_receive_buffers() -> list[int]:
    """SO_RCVBUF of every UDP socket this process holds (Aravis's included), as the kernel
    reports it: twice what was asked, capped at twice net.core.rmem_max."""
    sizes = []
    for fd_link in Path("/proc/self/fd").iterdir():
        try:
            if not os.readlink(fd_link).startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(fd_link.name))) as sock:
                if sock.type == socket.SOCK_DGRAM:
                    sizes.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        except OSError:
            continue  # closed since the listing
    return sizes


def test_the_stream_socket_holds_several_frames_for_a_delayed_receiver(gige: None) -> None:
    """A frame is a burst of packets; what does not fit the socket while Aravis's receiver thread
    waits for a core is dropped. Aravis's "auto" sizing holds one frame, and shrinks small
    frames' sockets below the kernel's default (a first frame lost on a busy CI machine)."""
    cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
    with gige_camera(pixel_format="Mono16") as camera:
        camera.set_roi(0, 0, 256, 256)
        frame_bytes = 256 * 256 * 2
        views = [np.zeros(camera.frame_shape, np.uint16) for _ in range(4)]
        for index, view in enumerate(views):
            camera.queue_view(view, index)
        camera.start()
        try:
            assert camera.next_filled(READ_TIMEOUT_S) is not None  # the socket is sized by now
            largest = max(udp_receive_buffers())
        finally:
            camera.stop()
    assert largest >= 2 * min(GIGE_SOCKET_FRAMES * frame_bytes, cap)


def may_force_socket_buffers() -> bool:
    """Whether this process holds CAP_NET_ADMIN, which lets a socket's buffer pass rmem_max."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 12 & 1)
    return False


def test_the_stream_socket_is_sized_before_the_first_frame(gige: None) -> None:
    """Aravis sizes its socket at the first frame's leader, so the first frame met the kernel's
    default buffer and a 1 MB first frame lost packets under load. With the trigger on an unwired
    line no frame ever comes: whatever size the socket has, lightsheet gave it. 8 full 16-bit
    frames (64 MB) pass rmem_max where the process may force it (as root's packet socket's ring
    did), and are capped there where it may not."""
    cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
    wanted = GIGE_SOCKET_FRAMES * 2048 * 2048 * 2
    with gige_camera(pixel_format="Mono16") as camera:
        assert camera.frame_shape == (2048, 2048)
        camera.set_trigger_mode("external")
        camera.start()
        try:
            largest = max(udp_receive_buffers())
        finally:
            camera.stop()
    assert largest >= 2 * (wanted if may_force_socket_buffers() else min(wanted, cap))


@pytest.mark.parametrize(("cap", "warned"), [(4_194_304, True), (67_108_864, False)])
def test_a_kernel_cap_under_two_frames_is_told_with_the_sysctl_to_raise(
    cap: int, warned: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    rmem_max = tmp_path / "rmem_max"
    rmem_max.write_text(f"{cap}\n")
    monkeypatch.setattr(genicam_stream, "RMEM_MAX", rmem_max)
    with caplog.at_level("WARNING", logger=genicam_stream.__name__):
        genicam_stream.warn_if_socket_capped(2048 * 2048 * 2)
    told = [r.getMessage() for r in caplog.records]
    assert bool(told) == warned, told
    if warned:
        assert "net.core.rmem_max" in told[0] and "sysctl -w" in told[0]


@contextlib.contextmanager
def loopback_chatter(max_datagrams: int = 2_000_000, max_s: float = 120.0) -> Iterator[None]:
    """Unrelated UDP traffic on 127.0.0.1 (to a socket of our own, drained now and then), as
    another program on the camera's interface makes; bounded in count and time."""
    stop = threading.Event()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((LOOPBACK, 0))
    sink.setblocking(False)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = bytes(range(256)) * 4

    def chatter() -> None:
        deadline = time.monotonic() + max_s
        for sent in range(max_datagrams):
            if stop.is_set() or time.monotonic() > deadline:
                return
            sender.sendto(payload, sink.getsockname())
            if sent % 64 == 63:  # read what came since, so the sink's buffer never fills
                with contextlib.suppress(BlockingIOError):
                    for _ in range(64):
                        sink.recv(2048)

    thread = threading.Thread(target=chatter, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10.0)
        sink.close()
        sender.close()


def test_unrelated_traffic_on_the_interface_costs_no_frame(gige: None) -> None:
    """Run as root, Aravis receives through a packet socket that sees every packet on the
    interface until its filter is attached, and parsed other traffic as GVSP: under load, the
    first frame of 38 starts in 40 came back incomplete (CI lost one as 'stream buffer
    cleared'). The stream must see the camera's packets only."""
    starts = 8
    first_frames = []
    with loopback_chatter():
        for _ in range(starts):
            with gige_camera(pixel_format="Mono16") as camera:
                camera.set_roi(0, 0, 128, 128)
                camera.set_exposure_ms(10.0)
                view = np.zeros(camera.frame_shape, np.uint16)
                camera.queue_view(view, 0)
                camera.start()
                try:
                    filled = camera.next_filled(READ_TIMEOUT_S)
                finally:
                    camera.stop()
                assert filled is not None, "no frame within the read timeout"
                first_frames.append(filled[1])
    assert all(isinstance(info, FrameInfo) for info in first_frames), first_frames


# -- the test image, frame ids, no drops ----------------------------------------------------------


def read_views(
    camera: GenicamCamera, count: int, n_views: int = 32
) -> list[tuple[int, np.ndarray]]:
    """``count`` frames received straight into lent views; (frame id, copy of the frame).
    ``camera.lost_while_reading`` is frames_lost at the last frame (what comes after it, until
    the stop, finds no view and would count too). 32 views hold 0.32 s of frames at 100 frames/s,
    so a test process kept off the CPU on a loaded machine does not starve the camera."""
    views = [np.zeros(camera.frame_shape, np.uint16) for _ in range(n_views)]
    for index, view in enumerate(views):
        camera.queue_view(view, index)
    frames = []
    camera.start()
    try:
        while len(frames) < count:
            filled = camera.next_filled(READ_TIMEOUT_S)
            assert filled is not None, "no frame within the read timeout"
            index, info = filled
            assert isinstance(info, FrameInfo), info
            frames.append((info.frame_id, views[index].copy()))
            camera.queue_view(views[index], index)
        camera.lost_while_reading = camera.frames_lost
        run = camera._run  # which count it was: a failure says (skipped ids, failed, underruns)
        camera.lost_detail = (run.counter.skipped, run.failed, run.underruns)
    finally:
        camera.stop()
    return frames


def assert_pattern_with_consecutive_ids(
    frames: list[tuple[int, np.ndarray]], pixel_format: str = "Mono16"
) -> None:
    ids = [frame_id for frame_id, _ in frames]
    assert ids == list(range(len(frames)))
    first = stream_id_of(frames[0][1]) if pixel_format == "Mono16" else int(frames[0][1][0, 0])
    for frame_id, frame in frames:
        expected = fake_pattern(frame.shape, first + frame_id, pixel_format)
        np.testing.assert_array_equal(frame, expected, err_msg=f"frame {frame_id}")


@pytest.mark.parametrize("make", [fake_camera, gige_camera], ids=["aravis-fake", "aravis-gige"])
def test_frames_received_into_views_equal_the_test_pattern_without_drops(
    make: Callable[..., GenicamCamera], request: pytest.FixtureRequest
) -> None:
    if make is gige_camera:
        request.getfixturevalue("gige")
    with make(pixel_format="Mono16") as camera:
        camera.set_roi(0, 0, 128, 128)
        camera.set_exposure_ms(10.0)  # 100 frames/s, and the image's scale is exactly 1
        frames = read_views(camera, 150)  # the simulator's 16-bit ids wrap within these
        assert camera.lost_while_reading == 0, camera.lost_detail
    assert_pattern_with_consecutive_ids(frames)


def test_a_slow_start_of_the_fake_camera_loses_no_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Aravis's Fake stream thread ticks from the stream's creation, before any buffer is queued
    or the acquisition started, and counts a tick without a buffer as an underrun. Those ticks
    were counted as lost frames: a start kept off the CPU for one frame period (a loaded
    machine) lost one. Here the start goes on 50 ms (5 periods) after the stream exists."""
    create = genicam_stream.StreamRun.__init__
    delayed: list[bool] = []

    def late_start(run: genicam_stream.StreamRun, *args: object) -> None:
        create(run, *args)
        delayed.append(True)
        time.sleep(0.05)  # the start-up being late is the condition under test

    monkeypatch.setattr(genicam_stream.StreamRun, "__init__", late_start)
    with fake_camera(pixel_format="Mono16") as camera:
        camera.set_roi(0, 0, 128, 128)
        camera.set_exposure_ms(10.0)
        frames = read_views(camera, 20)
        assert camera.lost_while_reading == 0, camera.lost_detail
    assert delayed == [True]
    assert_pattern_with_consecutive_ids(frames)


def test_read_into_copies_the_test_pattern_of_a_region_with_an_offset() -> None:
    with fake_camera(pixel_format="Mono16") as camera:
        camera.set_roi(100, 40, 96, 64)
        camera.set_exposure_ms(10.0)
        camera.start()
        frames = []
        for _ in range(5):
            buffer = np.zeros((64, 96), np.uint16)
            info = camera.read_into(buffer, READ_TIMEOUT_S)
            assert info is not None
            frames.append((info.frame_id, buffer))
    assert_pattern_with_consecutive_ids(frames)


@pytest.mark.parametrize("use_views", [True, False], ids=["views", "read_into"])
def test_mono8_frames_arrive_as_16_bit_counts(use_views: bool) -> None:
    with fake_camera(pixel_format="Mono8") as camera:
        camera.set_roi(0, 0, 300, 200)
        camera.set_exposure_ms(10.0)
        if use_views:
            frames = read_views(camera, 4, n_views=2)
        else:
            camera.start()
            buffers = [np.zeros(camera.frame_shape, np.uint16) for _ in range(4)]
            frames = [(camera.read_into(b, READ_TIMEOUT_S).frame_id, b) for b in buffers]
    assert_pattern_with_consecutive_ids(frames, "Mono8")


def test_binning_shrinks_the_frames_the_camera_sends() -> None:
    with fake_camera() as camera:
        camera.set_roi(0, 0, 256, 128)
        camera.set_binning(2)
        camera.set_exposure_ms(10.0)
        frames = read_views(camera, 3, n_views=3)
    assert all(frame.shape == (64, 128) for _, frame in frames)
    assert_pattern_with_consecutive_ids(frames)


# -- FrameViews: order, ownership, losses ---------------------------------------------------------


def test_views_come_back_in_queue_order_and_survive_a_restart() -> None:
    with fake_camera() as camera:
        camera.set_roi(0, 0, 64, 64)
        views = [np.zeros(camera.frame_shape, np.uint16) for _ in range(3)]
        for index in (2, 0, 1):
            camera.queue_view(views[index], f"slot {index}")
        camera.start()
        first = camera.next_filled(READ_TIMEOUT_S)
        camera.stop()
        assert camera.queued == 2  # views still queued stay the camera's across the stop
        camera.start()
        later = [camera.next_filled(READ_TIMEOUT_S) for _ in range(2)]
        camera.stop()
    assert [first[0], *(r[0] for r in later)] == ["slot 2", "slot 0", "slot 1"]
    assert [first[1].frame_id, *(r[1].frame_id for r in later)] == [0, 0, 1]


def test_misused_views_are_refused() -> None:
    with fake_camera() as camera:
        camera.set_roi(0, 0, 32, 32)
        with pytest.raises(CameraError, match="view is uint16"):
            camera.queue_view(np.zeros((32, 33), np.uint16), 0)
        with pytest.raises(CameraError, match="C-contiguous"):
            camera.queue_view(np.zeros((32, 64), np.uint16)[:, ::2], 0)
        view = np.zeros((32, 32), np.uint16)
        camera.queue_view(view, 0)
        with pytest.raises(CameraError, match="already queued"):
            camera.queue_view(view, 1)
        camera.start()
        with pytest.raises(CameraError, match="next_filled"):
            camera.read_into(np.zeros((32, 32), np.uint16), 0.1)
        with pytest.raises(CameraError, match="stopped"):
            camera.release_views()
        camera.stop()
        camera.release_views()
        assert camera.queued == 0
        camera.start()  # with no view lent any more, read_into works again
        assert camera.read_into(np.zeros((32, 32), np.uint16), READ_TIMEOUT_S) is not None
        with pytest.raises(CameraError, match="queue views before start"):
            camera.queue_view(view, 0)
        assert camera.queued == 0


def test_frames_that_find_no_queued_view_are_counted_as_lost() -> None:
    with fake_camera() as camera:
        camera.set_roi(0, 0, 32, 32)
        camera.set_exposure_ms(5.0)
        view = np.zeros((32, 32), np.uint16)
        camera.queue_view(view, "only")
        camera.start()
        token, info = camera.next_filled(READ_TIMEOUT_S)
        assert (token, info.frame_id) == ("only", 0)
        # Nothing is queued now: the camera has nowhere to put the frames that keep coming.
        assert camera.next_filled(0.2) is None
        assert camera.frames_lost >= 5
        camera.stop()
        lost = camera.frames_lost
    assert lost >= 5

"""The GenICam backend when things go wrong or need choosing: lossy networks, absent, busy and
unplugged cameras, trigger sources and edges, pixel formats, the config, and the network rule.

Each test that needs the GigE Vision simulator starts its own (one at a time, see aravis_sim).
"""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from lightsheet.hardware.camera.aravis import local_devices
from lightsheet.hardware.camera.factory import open_camera
from lightsheet.hardware.camera.genicam import GenicamCamera
from lightsheet.hardware.camera.gvcp_discovery import GVCP_PORT
from lightsheet.hardware.camera.protocol import CameraError, FrameInfo
from tests.hardware.aravis_sim import (
    LOOPBACK,
    fake_pattern,
    gige_simulator,
    loopback_simulator_lock,
    stop,
    stream_id_of,
    wait_for_free_port,
)
from tests.hardware.test_camera_genicam import fake_camera, gige_camera

READ_TIMEOUT_S = 5.0


def test_incomplete_frames_from_a_lossy_network_come_back_as_lost_frames() -> None:
    """The simulator drops 1 packet in 100 and never resends: some frames arrive incomplete (and
    Aravis hands some of them back with the block id of the buffer's previous frame)."""
    with gige_simulator(serial="LSLOSSY", lost_per_thousand=10), gige_camera() as camera:
        camera.set_roi(0, 0, 512, 256)
        camera.set_exposure_ms(10.0)
        views = [np.zeros(camera.frame_shape, np.uint16) for _ in range(6)]
        for index, view in enumerate(views):
            camera.queue_view(view, index)
        camera.start()
        results = []
        while len(results) < 200:
            filled = camera.next_filled(READ_TIMEOUT_S)
            assert filled is not None
            index, result = filled
            if isinstance(result, FrameInfo):
                results.append((result.frame_id, views[index].copy()))
            else:
                results.append((result.frame_id, None))
            camera.queue_view(views[index], index)
        lost_total = camera.frames_lost
        camera.stop()
    ids = [frame_id for frame_id, _ in results]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] == 0
    lost = [frame_id for frame_id, frame in results if frame is None]
    assert lost, "1 % packet loss over 200 frames of 32 packets each lost no frame"
    # Every frame is counted once: returned as lost, or a gap in the ids (lost whole).
    assert lost_total == len(lost) + (ids[-1] + 1 - len(ids))
    whole = [(i, f) for i, f in results if f is not None]
    first = stream_id_of(whole[0][1]) - whole[0][0]
    for frame_id, frame in whole:
        np.testing.assert_array_equal(frame, fake_pattern(frame.shape, first + frame_id))


# -- absent, busy, unplugged ----------------------------------------------------------------------


def test_an_absent_camera_is_one_clear_error() -> None:
    with loopback_simulator_lock():
        wait_for_free_port()
        camera = gige_camera()
        with pytest.raises(CameraError, match=r"no GigE Vision camera answers at 127\.0\.0\.1"):
            camera.open()
        assert not camera.is_open


def test_a_busy_camera_is_one_clear_error() -> None:
    with gige_simulator(serial="LSBUSY"), gige_camera() as owner:
        assert owner.label == f"Aravis Fake (serial LSBUSY) at {LOOPBACK}"
        with pytest.raises(CameraError, match="busy: another program controls it"):
            gige_camera().open()
    # Released on close: the next program gets the camera.
    with gige_simulator(serial="LSBUSY"), gige_camera() as first:
        first.close()
        with gige_camera() as second:
            assert second.is_open


def test_a_camera_unplugged_mid_run_fails_the_read_with_one_clear_error() -> None:
    with gige_simulator(serial="LSUNPLUG") as simulator, gige_camera() as camera:
        camera.set_roi(0, 0, 64, 64)
        camera.start()
        buffer = np.empty(camera.frame_shape, np.uint16)
        assert camera.read_into(buffer, READ_TIMEOUT_S) is not None
        stop(simulator)
        deadline = time.monotonic() + 30.0
        with pytest.raises(CameraError, match="stopped answering"):
            while time.monotonic() < deadline:
                camera.read_into(buffer, 0.5)
        camera.stop()


# -- trigger, pixel format ------------------------------------------------------------------------


def test_software_trigger_gives_one_frame_per_trigger() -> None:
    # The GigE Vision simulator honours TriggerSource Software; the in-process Fake free-runs.
    with gige_simulator(serial="LSTRIG"), gige_camera(trigger_source="Software") as camera:
        camera.set_roi(0, 0, 32, 32)
        camera.set_trigger_mode("external")
        camera.start()
        buffer = np.empty((32, 32), np.uint16)
        assert camera.read_into(buffer, 0.3) is None  # no trigger, no frame
        infos = []
        for _ in range(3):
            camera.send_software_trigger()
            infos.append(camera.read_into(buffer, READ_TIMEOUT_S))
        assert camera.read_into(buffer, 0.3) is None
    assert [info.frame_id for info in infos] == [0, 1, 2]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trigger_source": "Line3"}, "no trigger source Line3 .*it has Line0, Software"),
        ({"trigger_edge": "falling"}, "cannot trigger on the falling edge .*RisingEdge"),
    ],
)
def test_a_trigger_the_camera_lacks_is_refused(options: dict, message: str) -> None:
    with fake_camera(**options) as camera, pytest.raises(CameraError, match=message):
        camera.set_trigger_mode("external")


def test_a_pixel_format_the_camera_lacks_is_refused_on_open() -> None:
    camera = fake_camera(pixel_format="Mono12")
    with pytest.raises(CameraError, match=r"offers no Mono12 .*Mono8.*Mono16"):
        camera.open()
    assert not camera.is_open


# -- the config -----------------------------------------------------------------------------------


def genicam_config(**changes: object) -> SimpleNamespace:
    cfg = SimpleNamespace(
        backend="genicam",
        device="Fake_1",
        exposure_ms=10.0,
        binning=2,
        roi=SimpleNamespace(x=64, y=32, width=256, height=128),
        trigger_mode="internal",
        trigger_edge="rising",
        readout_ms=0.0,
        genicam=SimpleNamespace(pixel_format="Mono16", trigger_source="Line0", packet_size=0),
    )
    for name, value in changes.items():
        setattr(cfg, name, value)
    return cfg


def test_open_camera_applies_a_genicam_config() -> None:
    with open_camera(genicam_config(), [0.0]) as camera:
        assert isinstance(camera, GenicamCamera)
        assert camera.sensor_shape == (2048, 2048)
        assert camera.frame_shape == (64, 128) and camera.exposure_ms == 10.0
        camera.start()
        buffer = np.empty(camera.frame_shape, np.uint16)
        info = camera.read_into(buffer, READ_TIMEOUT_S)
    assert isinstance(info, FrameInfo)
    np.testing.assert_array_equal(buffer, fake_pattern((64, 128), stream_id_of(buffer)))


def test_a_roi_beyond_the_real_sensor_is_refused_on_open() -> None:
    roi = SimpleNamespace(x=2000, y=0, width=100, height=None)
    with pytest.raises(CameraError, match=r"x \+ width = 2100 does not fit the 2048 x 2048 sensor"):
        open_camera(genicam_config(roi=roi), [0.0])


# -- the network rule -----------------------------------------------------------------------------


def test_listing_and_opening_send_no_discovery_to_any_gvcp_port() -> None:
    """Any GigE Vision discovery, broadcast or not, would reach a GVCP socket on this machine
    (locally sent broadcasts are looped back); none may come while lightsheet lists and opens."""
    with loopback_simulator_lock():
        wait_for_free_port()
        received: list[bytes] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("0.0.0.0", GVCP_PORT))
            listener.settimeout(0.05)
            done = threading.Event()

            def listen() -> None:
                while not done.is_set():
                    try:
                        received.append(listener.recv(2048))
                    except TimeoutError:
                        continue

            thread = threading.Thread(target=listen, daemon=True)
            thread.start()
            local_devices(include_fake=True)
            with pytest.raises(CameraError):
                GenicamCamera("").open()  # no USB3 Vision camera here; GigE needs an address
            with pytest.raises(CameraError):
                GenicamCamera("GV01").open()  # a serial number never triggers a broadcast
            with fake_camera():
                pass
            done.set()
            thread.join(5.0)
    assert received == []


# -- the camera's own sensor replaces the config's ------------------------------------------------


def test_with_camera_sensor_puts_the_cameras_sensor_into_the_config() -> None:
    from lightsheet.config import CameraConfig
    from lightsheet.hardware.camera.factory import with_camera_sensor

    section = CameraConfig(backend="genicam", device="Fake_1", roi={"x": 1024, "width": 1024})
    assert (section.sensor_width, section.sensor_height) == (1024, 1024)  # the default
    resolved = with_camera_sensor(section)
    assert (resolved.sensor_width, resolved.sensor_height) == (2048, 2048)
    assert resolved.frame_shape == (2048, 1024)
    simulated = CameraConfig()
    assert with_camera_sensor(simulated) is simulated


def test_with_camera_sensor_refuses_an_absent_camera_in_one_line() -> None:
    from lightsheet.config import CameraConfig
    from lightsheet.hardware.camera.factory import with_camera_sensor

    with loopback_simulator_lock():
        wait_for_free_port()
        with pytest.raises(CameraError, match="no GigE Vision camera answers") as refused:
            with_camera_sensor(CameraConfig(backend="genicam", device=LOOPBACK))
    assert "\n" not in str(refused.value)

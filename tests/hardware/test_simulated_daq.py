"""The simulated board: what the camera sees through the link, the piezo lag, other processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from lightsheet.hardware.daq.factory import open_daq_board
from lightsheet.hardware.daq.protocol import OUTPUT_NAMES, DaqError, DaqSettings
from lightsheet.hardware.daq.simulated import SimulatedDaqBoard, periodic_lag_response
from lightsheet.hardware.daq.simulated_camera_side import (
    SimulatedTriggerSource,
    simulated_camera_sources,
)
from lightsheet.hardware.daq.simulated_link import SimulatedBoardLink
from lightsheet.runtime.shm import list_blocks
from lightsheet.testing.daq_contract import SAFE, rig_config, waveforms

RATE = 20000.0
N = 2000  # a 100 ms period
PLANES = 10
PLANE = N // PLANES
SLOPE, OFFSET = 0.02, -2.0  # z galvo calibration: v = SLOPE * z + OFFSET
DEADLINE_S = 10.0


def free_settings() -> DaqSettings:
    """Settings whose step limits allow staircases, so plane-by-plane waveforms are valid."""
    cfg = rig_config()
    for channel in cfg["channels"].values():
        channel["max_step_v"] = 10.0
    return DaqSettings.from_config(cfg)


def volume(pulse_planes: range = range(8), shift_planes: int = 0) -> dict[str, np.ndarray]:
    """Planes of 200 samples: z galvo steps to plane i's voltage, a pulse starts planes 0..7."""
    k = np.arange(N)
    plane = k // PLANE
    z_um = 10.0 * plane
    trigger = np.where(np.isin(plane, list(pulse_planes)) & (k % PLANE < 10), 5.0, 0.0)
    return {
        "piezo": z_um / 40.0,
        "z_galvo": SLOPE * z_um + OFFSET,
        "lateral_galvo": np.zeros(N),
        "laser_blanking": np.full(N, 5.0),
        "camera_trigger": np.roll(trigger, shift_planes * PLANE),
    }


@pytest.fixture
def board() -> Iterator[SimulatedDaqBoard]:
    board = SimulatedDaqBoard(max_samples=4 * N)
    board.configure(free_settings())
    yield board
    board.close()


@pytest.fixture
def source(board: SimulatedDaqBoard) -> Iterator[SimulatedTriggerSource]:
    source = SimulatedTriggerSource(board.link_name, (SLOPE, OFFSET), exposure_s=lambda: 0.002)
    yield source
    source.close()


def t0_of(board: SimulatedDaqBoard) -> float:
    observer = SimulatedBoardLink.attach(board.link_name)
    try:
        return observer.state().t0
    finally:
        observer.close()


def phases(source: SimulatedTriggerSource, t0: float, count: int) -> list[int]:
    """Sample positions (within the period) of the next ``count`` triggers."""
    found = []
    for _ in range(count):
        t = source.wait_trigger(DEADLINE_S)
        assert t is not None
        assert time.monotonic() >= t  # it waited for the edge
        found.append(round((t - t0) * RATE) % N)
    return found


def test_trigger_times_follow_the_waveform_edges(board, source) -> None:
    board.write(volume())
    board.start()
    t0 = t0_of(board)
    seen = phases(source, t0, 8)
    assert sorted(seen) == [p * PLANE for p in range(8)]
    # A trigger waveform shifted by one plane really shifts what the camera sees.
    board.write(volume(shift_planes=1))
    seen_shifted = phases(source, t0_of(board), 8)
    assert sorted(seen_shifted) == [p * PLANE for p in range(1, 9)]


def test_consecutive_triggers_are_one_plane_apart_and_skip_the_flyback(board, source) -> None:
    board.write(volume())
    board.start()
    t0 = t0_of(board)
    times = [source.wait_trigger(DEADLINE_S) for _ in range(9)]
    assert None not in times
    steps = np.round(np.diff(np.array(times, dtype=float)) * RATE).astype(int)
    first = round((times[0] - t0) * RATE) % N // PLANE
    pulsed = [(first + i) % 8 for i in range(8)]  # planes 8 and 9 are the flyback: no pulse
    expected = [PLANE if plane != 7 else 3 * PLANE for plane in pulsed]
    assert steps.tolist() == expected


def test_wait_trigger_gives_none_while_stopped_or_without_pulses(board, source) -> None:
    assert source.wait_trigger(0.02) is None
    board.write(volume(pulse_planes=range(0)))
    board.start()
    assert source.wait_trigger(0.05) is None


def test_reset_forgets_edges_before_it(board, source) -> None:
    board.write(volume())
    board.start()
    first = source.wait_trigger(DEADLINE_S)
    source.reset()
    after_reset = time.monotonic()
    second = source.wait_trigger(DEADLINE_S)
    assert first is not None and second is not None and second > after_reset


def test_z_at_exposure_inverts_the_calibration(board, source) -> None:
    board.write(volume())
    board.start()
    t0 = t0_of(board)
    for cycle in (0, 3):
        for plane in range(PLANES):
            start = t0 + (cycle * N + plane * PLANE + 50) / RATE
            assert source.z_at_exposure(start, 100 / RATE) == pytest.approx(10.0 * plane)
    # An exposure across two planes sees the mean of both.
    across = t0 + (2 * PLANE - 50) / RATE
    assert source.z_at_exposure(across, 100 / RATE) == pytest.approx(15.0)


def test_z_while_stopped_is_the_held_galvo_voltage(board, source) -> None:
    assert source.z_at_exposure(time.monotonic(), 0.01) == pytest.approx(
        (SAFE["z_galvo"] - OFFSET) / SLOPE
    )


def test_z_source_gives_the_z_of_the_exposure_each_trigger_started(board) -> None:
    trigger_source, z_source = simulated_camera_sources(board.link_name, (SLOPE, OFFSET), lambda: 2)
    try:
        board.write(volume())
        board.start()
        for _ in range(3):
            t = trigger_source.wait_trigger(DEADLINE_S)
            assert t is not None
            expected = trigger_source.z_at_exposure(t, 0.002)
            assert z_source(t) == expected
            plane = round((t - t0_of(board)) * RATE) % N // PLANE
            assert expected == pytest.approx(10.0 * plane)
            # A camera that exposes one plane late sees the next plane's z.
            late = t + PLANE / RATE
            assert z_source(late) == pytest.approx(10.0 * ((plane + 1) % (N // PLANE)))
    finally:
        trigger_source.close()


def test_without_calibration_z_is_the_commanded_piezo(board) -> None:
    source = SimulatedTriggerSource(board.link_name)
    try:
        board.write(volume())
        board.start()
        start = t0_of(board) + (3 * PLANE + 20) / RATE
        assert source.z_at_exposure(start, 50 / RATE) == pytest.approx(30.0)
    finally:
        source.close()


@pytest.mark.parametrize("lag_ms", [0.0, 2.0])
def test_piezo_lag_is_visible_in_the_readback(lag_ms: float) -> None:
    board = SimulatedDaqBoard(piezo_lag_ms=lag_ms, max_samples=N)
    try:
        board.configure(DaqSettings.from_config(rig_config()))
        period = waveforms(n=N)
        board.write(period)
        board.start()
        readback = board.read_piezo_um()
    finally:
        board.close()
    command = period["piezo"] * 40.0
    assert readback is not None
    if lag_ms == 0:
        assert np.array_equal(readback, command)
        return
    assert np.allclose(readback, periodic_lag_response(period["piezo"], RATE, 0.002) * 40.0)
    # For a slow sine a first-order lag is a delay of about tau: 2 ms = 40 samples.
    centred = command - command.mean()
    delays = [np.dot(np.roll(centred, d), readback - readback.mean()) for d in range(100)]
    assert abs(int(np.argmax(delays)) - 40) <= 1


def test_periodic_lag_response_is_the_settled_filter() -> None:
    rng = np.random.default_rng(3)
    command = rng.uniform(-1, 1, 64)
    a = np.exp(-1.0 / (RATE * 0.0005))
    y = 0.0
    for _ in range(60):  # 60 periods: settled to far below 1e-9
        settled = np.empty_like(command)
        for i, u in enumerate(command):
            y = a * y + (1 - a) * u
            settled[i] = y
    assert np.allclose(periodic_lag_response(command, RATE, 0.0005), settled, atol=1e-9)


def test_period_longer_than_the_link_is_refused() -> None:
    board = SimulatedDaqBoard(max_samples=100)
    try:
        board.configure(DaqSettings.from_config(rig_config()))
        with pytest.raises(DaqError, match="exceeds the simulated board's buffer of 100"):
            board.write(waveforms(n=400))
    finally:
        board.close()


def test_a_board_without_a_link_owns_and_removes_its_block() -> None:
    board = SimulatedDaqBoard(max_samples=16)
    name = board.link_name
    assert name in list_blocks() and name.startswith(f"lightsheet-{os.getpid()}-daqsim-")
    board.close()
    assert name not in list_blocks()


def test_attaching_to_a_missing_link_is_a_clear_error() -> None:
    with pytest.raises(DaqError, match="does not exist"):
        SimulatedDaqBoard(f"lightsheet-{os.getpid()}-daqsim-missing")


def test_factory_opens_the_configured_simulated_board() -> None:
    cfg = rig_config()
    cfg["backend"] = "simulated"
    link = SimulatedBoardLink.create(max_samples=16)
    as_model = SimpleNamespace(**{**cfg, "simulated": SimpleNamespace(piezo_lag_ms=1.0)})
    board = open_daq_board(as_model, link.name)
    try:
        assert isinstance(board, SimulatedDaqBoard) and board.link_name == link.name
        assert link.outputs() == pytest.approx(SAFE)
    finally:
        board.close()
        link.close()
    with pytest.raises(ValueError, match="unknown DAQ backend 'labjack'"):
        open_daq_board(SimpleNamespace(**{**cfg, "backend": "labjack"}))


# -- other processes ----------------------------------------------------------------------------


def run_scanner(link_name: str, running: mp.Event, stop: mp.Event) -> None:
    """A scanner process: plays a period until told to stop, then closes (goes safe)."""
    board = SimulatedDaqBoard(link_name)
    try:
        board.configure(free_settings())
        board.write(volume())
        board.start()
        running.set()
        stop.wait(60.0)
    finally:
        board.close()


def run_bystander(started: mp.Event) -> None:
    """Another child (a camera, say) that does nothing until it is killed."""
    started.set()
    threading.Event().wait(60.0)


@pytest.fixture
def link() -> Iterator[SimulatedBoardLink]:
    link = SimulatedBoardLink.create(max_samples=N)
    yield link
    name = link.name
    link.close()
    assert name not in list_blocks()


def start_scanner(ctx, link: SimulatedBoardLink) -> tuple[mp.Process, mp.Event]:
    running, stop = ctx.Event(), ctx.Event()
    scanner = ctx.Process(target=run_scanner, args=(link.name, running, stop))
    scanner.start()
    assert running.wait(DEADLINE_S), "scanner did not start"
    return scanner, stop


def assert_playing(link: SimulatedBoardLink) -> None:
    now = link.outputs()
    period = volume()
    for name in OUTPUT_NAMES:
        assert np.isclose(period[name], now[name]).any(), name
    assert now["laser_blanking"] == 5.0 != SAFE["laser_blanking"]


def test_outputs_read_from_the_main_process_are_safe_after_the_scanner_stopped(link) -> None:
    ctx = mp.get_context("spawn")
    scanner, stop = start_scanner(ctx, link)
    try:
        assert_playing(link)
        stop.set()
        scanner.join(DEADLINE_S)
        assert scanner.exitcode == 0
        assert link.outputs() == pytest.approx(SAFE)
    finally:
        if scanner.is_alive():
            scanner.kill()
            scanner.join()


def test_scanner_goes_safe_after_another_process_is_killed(link) -> None:
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    bystander = ctx.Process(target=run_bystander, args=(started,))
    bystander.start()
    scanner, stop = start_scanner(ctx, link)
    try:
        assert started.wait(DEADLINE_S)
        assert_playing(link)
        os.kill(bystander.pid, signal.SIGKILL)
        bystander.join(DEADLINE_S)  # what a supervisor sees on the dead child's sentinel...
        assert bystander.exitcode == -signal.SIGKILL
        stop.set()  # ...and its reaction: stop the scanner first
        scanner.join(DEADLINE_S)
        assert scanner.exitcode == 0
        assert link.outputs() == pytest.approx(SAFE)
    finally:
        for process in (bystander, scanner):
            if process.is_alive():
                process.kill()
                process.join()

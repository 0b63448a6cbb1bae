"""External trigger end to end: the trigger process talks to a simulated device on a real pty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightsheet.app.acquisition import Acquisition, run_acquisition
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Session
from lightsheet.hardware.trigger.simulated_device import SimulatedTriggerDevice
from lightsheet.storage.run_reader import summarize_run
from tests.waiting import wait_until

from .rigs import our_blocks
from .test_closed_loop import scanned_rig

VOLUME_RATE_HZ = 5.0  # scanned_rig's


def triggered_rig(mode: str, port: str, timeout_s: float = 2.0, duration_s: float | None = None):
    config = scanned_rig()
    config.trigger = type(config.trigger).model_validate(
        {"mode": mode, "port": port, "timeout_s": timeout_s, "duration_s": duration_s}
    )
    return config


@pytest.fixture
def device():
    with SimulatedTriggerDevice() as dev:
        yield dev


def without(data: bytes, *words: bytes) -> bytes:
    """``data`` with every occurrence of ``words`` removed, also those the removal creates."""
    while any(word in data for word in words):
        for word in words:
            data = data.replace(word, b"")
    return data


def acquire(config, folder: Path, volumes=None, duration_s=None):
    with Session(config, log_dir=folder / "logs") as session:
        outcome = run_acquisition(session, folder, volumes, duration_s)
    metadata = json.loads((folder / "metadata.json").read_text())
    return outcome, metadata


def test_wait_mode_starts_on_trigger_and_takes_the_devices_duration(
    tmp_path: Path, device: SimulatedTriggerDevice
) -> None:
    device.auto_trigger_on_armed(duration_s=0.8)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    outcome, metadata = acquire(triggered_rig("wait", device.port), folder, duration_s=3.0)
    assert outcome.status == "completed", outcome
    expected = round(0.8 * VOLUME_RATE_HZ)
    assert outcome.volumes_saved == summarize_run(folder).volumes_saved == expected
    wait_until(lambda: device.wait_for_line(b"STOPPED", 0) is not None, 10, "STOPPED")
    lines = device.received_lines
    assert lines[0] == b"ARMED"
    assert lines[1] == b"STARTED 0"
    assert lines[-1] == f"STOPPED {expected}".encode()
    trigger = metadata["trigger"]
    assert trigger["mode"] == "wait" and trigger["port"] == device.port
    assert trigger["duration_s"] == 0.8 and trigger["duration_source"] == "device"
    assert trigger["frame_id_at_trigger"] == 0 and trigger["trigger_time"]


def test_send_mode_announces_the_first_frame_and_takes_a_timely_duration(
    tmp_path: Path, device: SimulatedTriggerDevice
) -> None:
    device.answer_duration(0.6, delay_s=0.05)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    outcome, metadata = acquire(triggered_rig("send", device.port), folder, volumes=50)
    assert outcome.status == "completed", outcome
    assert outcome.volumes_saved == round(0.6 * VOLUME_RATE_HZ)
    assert device.received_lines[0] == b"TRIGGER 0"
    assert metadata["trigger"]["duration_source"] == "device"


def test_send_mode_without_an_answer_keeps_the_configured_duration(
    tmp_path: Path, device: SimulatedTriggerDevice
) -> None:
    device.answer_duration(None)
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    config = triggered_rig("send", device.port, timeout_s=0.3, duration_s=0.6)
    outcome, metadata = acquire(config, folder)
    assert outcome.volumes_saved == round(0.6 * VOLUME_RATE_HZ)
    assert metadata["trigger"]["duration_source"] == "config"
    # A late answer in the next run is not taken for that run's.
    device.answer_duration(5.0, delay_s=0.6)
    folder2 = prepare_run_folder(tmp_path / "run2", overwrite=False)
    outcome2, metadata2 = acquire(config, folder2)
    assert outcome2.volumes_saved == round(0.6 * VOLUME_RATE_HZ)
    assert metadata2["trigger"]["duration_source"] == "config"


def interrupted_by_the_device(tmp_path: Path, device: SimulatedTriggerDevice, act) -> tuple:
    """A long triggered run that the device cuts short with ``act`` after two volumes."""
    device.auto_trigger_on_armed()
    folder = prepare_run_folder(tmp_path / "run", overwrite=False)
    config = triggered_rig("wait", device.port)
    with Session(config, log_dir=folder / "logs") as session:
        acquisition = Acquisition(session, folder, volumes=1000)
        acquisition.start()
        wait_until(lambda: acquisition.poll().volumes_saved >= 2, 30, "two volumes")
        act()
        wait_until(lambda: acquisition.poll() and acquisition.ended, 30, "the run to end")
        outcome = acquisition.finish()
    return folder, outcome


def test_abort_from_the_device_is_a_clean_stop_that_keeps_the_data(
    tmp_path: Path, device: SimulatedTriggerDevice
) -> None:
    folder, outcome = interrupted_by_the_device(
        tmp_path, device, lambda: device.send(b"ABORT\n")
    )
    assert outcome.status == "completed"
    assert outcome.stop_reason == "aborted by the trigger device"
    assert 2 <= outcome.volumes_saved < 1000
    assert summarize_run(folder).volumes_saved == outcome.volumes_saved


def test_a_port_lost_mid_run_ends_it_as_a_fault_with_the_data_kept(
    tmp_path: Path, device: SimulatedTriggerDevice
) -> None:
    folder, outcome = interrupted_by_the_device(tmp_path, device, device.disconnect)
    assert outcome.status == "fault"
    assert outcome.stop_reason == "fault: trigger: port lost"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["trigger"]["port_lost"] is True
    assert metadata["volumes_saved"] == summarize_run(folder).volumes_saved >= 2
    assert not our_blocks()


def test_garbage_from_the_device_never_stops_a_run(
    tmp_path: Path, device: SimulatedTriggerDevice
) -> None:
    """Arbitrary bytes before and during runs: every run still completes as asked."""
    device.auto_trigger_on_armed()
    config = triggered_rig("wait", device.port)
    counter = iter(range(10_000))
    with Session(config, log_dir=tmp_path / "logs") as session:

        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            before=st.binary(max_size=300),
            during=st.lists(st.binary(max_size=2000), max_size=4),
        )
        def one_run(before: bytes, during: list[bytes]) -> None:
            # Everything but the two commands that rightly change a run: TRIGGER while armed
            # and ABORT.
            # Bytes still on their way when the run arms would run into the device's TRIGGER
            # line (no newline ends them): arming discards only what has arrived.
            device.send(without(before, b"TRIGGER", b"ABORT"))
            assert device.wait_sent(10)
            folder = prepare_run_folder(tmp_path / f"run{next(counter)}", overwrite=False)
            acquisition = Acquisition(session, folder, volumes=2)
            acquisition.start()
            assert device.wait_for_line(b"STARTED", 30) is not None  # the run is on
            device.send(without(b"".join(during), b"ABORT"))
            wait_until(lambda: acquisition.poll() and acquisition.ended, 30, "the run to end")
            outcome = acquisition.finish()
            assert outcome.status == "completed", outcome
            assert outcome.volumes_saved == 2

        one_run()
        assert session.fault is None
        assert set(session.process_states().values()) == {"running"}

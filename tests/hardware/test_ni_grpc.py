"""The NI backend through the simulated NI-DAQmx gRPC server: exactly what reaches the driver."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import nidaqmx
import nidaqmx.errors
import numpy as np
import pytest

from lightsheet.hardware.daq.nidaqmx_board import NiDaqBoard
from lightsheet.hardware.daq.protocol import OUTPUT_NAMES, DaqError, DaqSettings
from lightsheet.hardware.daq.simulated import periodic_lag_response
from lightsheet.rehearsal import Recorder, SimulatedDevice, TaskRecord, rehearse, serve
from lightsheet.testing.daq_contract import N_SAMPLES, SAFE, rig_config, waveforms

RATE = 20000.0
PLANES = 8


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    grpc_server, port, recorder = serve("localhost:0")
    yield f"localhost:{port}", recorder
    grpc_server.stop(0)


@pytest.fixture
def two_boards() -> Iterator[tuple[str, Recorder]]:
    grpc_server, port, recorder = serve(
        "localhost:0", [SimulatedDevice("Dev1"), SimulatedDevice("Dev2")]
    )
    yield f"localhost:{port}", recorder
    grpc_server.stop(0)


def open_board(address: str, cfg: dict) -> NiDaqBoard:
    board = NiDaqBoard(address)
    board.configure(DaqSettings.from_config(cfg))
    return board


def hw_task(recorder: Recorder, purpose: str) -> TaskRecord:
    """The backend's latest task for a purpose (its names end in ``_<purpose>``)."""
    return [t for t in recorder.tasks() if t.name.endswith(f"_{purpose}")][-1]


def channel_table(task: object) -> list[tuple]:
    return [(c.kind, c.physical, c.name, c.min_v, c.max_v) for c in task.channels]  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["ao", "do", "counter"])
def test_tasks_channels_timing_triggers_and_samples_arrive_exactly(
    server: tuple[str, Recorder], kind: str
) -> None:
    address, recorder = server
    cfg = rig_config(kind)
    period = waveforms(planes=PLANES)
    board = open_board(address, cfg)
    board.write(period)
    board.start()

    analog = [n for n in OUTPUT_NAMES if kind == "ao" or n != "camera_trigger"]
    ao = hw_task(recorder, "ao_Dev1")
    assert channel_table(ao) == [
        (
            "ao_voltage",
            cfg["channels"][n]["physical"],
            n,
            cfg["channels"][n]["min_v"],
            cfg["channels"][n]["max_v"],
        )
        for n in analog
    ]
    assert ao.timing == {
        "type": "sample_clock",
        "rate": RATE,
        "source": "",
        "active_edge": "rising",
        "sample_mode": "continuous",
        "samps_per_chan": N_SAMPLES,
    }
    assert ao.write_attributes == {"regen_mode": "allow_regeneration"}
    assert ao.start_trigger is None
    assert np.array_equal(ao.writes[-1], np.vstack([period[n] for n in analog]))

    ai = hw_task(recorder, "ai")
    assert channel_table(ai) == [("ai_voltage", "Dev1/ai0", "piezo_readback", -10.0, 10.0)]
    assert ai.start_trigger == {"source": "/Dev1/ao/StartTrigger", "edge": "rising"}
    assert ai.timing is not None and ai.timing["rate"] == RATE
    assert ai.timing["sample_mode"] == "continuous"

    if kind == "do":
        line = hw_task(recorder, "do")
        assert channel_table(line) == [
            ("do_line", "Dev1/port0/line0", "camera_trigger", None, None)
        ]
        assert line.timing == {**ao.timing, "source": "/Dev1/ao/SampleClock"}
        assert line.write_attributes == {"regen_mode": "allow_regeneration"}
        expected = (period["camera_trigger"] > 2.5).astype(float)[np.newaxis, :]
        assert np.array_equal(line.writes[-1], expected)
    if kind == "counter":
        counter = hw_task(recorder, "counter")
        (channel,) = counter.channels
        assert (channel.kind, channel.physical) == ("co_pulse_freq", "Dev1/ctr0")
        spacing = N_SAMPLES // PLANES
        assert channel.settings["freq"] == pytest.approx(RATE / spacing)
        assert channel.settings["duty_cycle"] == pytest.approx(5 / spacing)
        assert channel.settings["initial_delay"] == 0.0
        assert channel.settings["idle_state"] == "low"
        assert counter.timing is not None and counter.timing["type"] == "implicit"
        assert counter.timing["sample_mode"] == "continuous"
        assert counter.start_trigger == {"source": "/Dev1/ao/StartTrigger", "edge": "rising"}

    # Everything that waits for the AO start trigger or clock is started before the AO task.
    starts = [c.task for c in recorder.rpcs("StartTask")]
    assert starts[-1] == ao.name and len(starts) == len(set(starts))
    assert {t.name for t in recorder.live.values() if t.state == "running"} == set(starts)

    board.stop()
    assert all(t.state != "running" for t in recorder.live.values())
    safe = hw_task(recorder, "static_Dev1")
    assert np.array_equal(safe.writes[-1][:, 0], [SAFE[n] for n in analog])
    assert recorder.errors == []
    board.close()


def test_counter_initial_delay_follows_the_first_pulse(server: tuple[str, Recorder]) -> None:
    address, recorder = server
    period = waveforms(planes=PLANES)
    shift = 20
    period["camera_trigger"] = np.roll(period["camera_trigger"], shift)
    board = open_board(address, rig_config("counter"))
    board.write(period)
    (channel,) = hw_task(recorder, "counter").channels
    assert channel.settings["initial_delay"] == pytest.approx(shift / RATE)
    board.close()


def test_counter_refuses_uneven_triggers_before_anything_is_sent(
    server: tuple[str, Recorder],
) -> None:
    address, recorder = server
    period = waveforms(planes=PLANES)
    period["camera_trigger"][-N_SAMPLES // PLANES :] = 0.0  # no trigger during the flyback
    board = open_board(address, rig_config("counter"))
    calls = len(recorder.calls)
    with pytest.raises(DaqError, match="evenly spaced pulses"):
        board.write(period)
    assert len(recorder.calls) == calls
    board.close()


def on_device(device: str) -> dict[str, str]:
    return {n: c["physical"].replace("Dev1", device) for n, c in rig_config()["channels"].items()}


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        ({"piezo": "Dev1/ao9"}, -200170, "ao9"),
        ({"z_galvo": "Dev1/ai3"}, -200430, "Dev1/ai3"),
        (on_device("Dev7"), -200220, "Dev7"),
    ],
)
def test_bad_physical_channel_surfaces_the_driver_code(
    server: tuple[str, Recorder], change: dict, code: int, text: str
) -> None:
    address, recorder = server
    cfg = rig_config(readback=False)
    for name, physical in change.items():
        cfg["channels"][name]["physical"] = physical
    board = NiDaqBoard(address)
    with pytest.raises(DaqError, match=rf"NI-DAQmx error {code} .*{text}") as caught:
        board.configure(DaqSettings.from_config(cfg))
    assert caught.value.code == code
    assert isinstance(caught.value.__cause__, nidaqmx.errors.DaqError)
    assert [e.error for e in recorder.errors] == [code]
    assert recorder.live == {}  # the half-built tasks were cleared
    board.close()


def test_the_nidaqmx_client_itself_raises_the_driver_codes(server: tuple[str, Recorder]) -> None:
    import grpc

    address, _ = server
    with grpc.insecure_channel(address) as channel:
        options = nidaqmx.GrpcSessionOptions(channel, "direct")
        with nidaqmx.Task(new_task_name="direct", grpc_options=options) as task:
            with pytest.raises(nidaqmx.errors.DaqError) as missing:
                task.ao_channels.add_ao_voltage_chan("Dev1/ao42")
            assert missing.value.error_code == -200170
            with pytest.raises(nidaqmx.errors.DaqError) as too_wide:
                task.ao_channels.add_ao_voltage_chan("Dev1/ao0", min_val=-20.0, max_val=20.0)
            assert too_wide.value.error_code == -200077
            task.ao_channels.add_ao_voltage_chan("Dev1/ao0", min_val=0.0, max_val=5.0)
            with pytest.raises(nidaqmx.errors.DaqError) as outside:
                task.write(7.5)
            assert outside.value.error_code == -200561


def test_output_range_beyond_the_device_is_refused(server: tuple[str, Recorder]) -> None:
    address, _ = server
    cfg = rig_config()
    cfg["channels"]["piezo"]["max_v"] = 12.0
    board = NiDaqBoard(address)
    with pytest.raises(DaqError, match="-200077") as caught:
        board.configure(DaqSettings.from_config(cfg))
    assert caught.value.code == -200077
    board.close()


def test_rate_above_the_device_maximum_is_refused(server: tuple[str, Recorder]) -> None:
    address, recorder = server
    board = open_board(address, rig_config(sample_rate_hz=2.0e6))
    with pytest.raises(DaqError, match="SampClk_Rate") as caught:
        board.write(waveforms())
    assert caught.value.code == -200077
    assert hw_task(recorder, "ao_Dev1").writes == []
    board.close()


def test_boards_synchronised_through_a_shared_start_trigger(
    two_boards: tuple[str, Recorder],
) -> None:
    address, recorder = two_boards
    cfg = rig_config(start_trigger="/Dev1/ao/StartTrigger")
    cfg["channels"]["lateral_galvo"]["physical"] = "Dev2/ao0"
    cfg["channels"]["laser_blanking"]["physical"] = "Dev2/ao1"
    period = waveforms()
    board = open_board(address, cfg)
    board.write(period)
    board.start()
    primary, secondary = hw_task(recorder, "ao_Dev1"), hw_task(recorder, "ao_Dev2")
    assert primary.start_trigger is None
    assert secondary.start_trigger == {"source": "/Dev1/ao/StartTrigger", "edge": "rising"}
    assert np.array_equal(
        primary.writes[-1], np.vstack([period[n] for n in ("piezo", "z_galvo", "camera_trigger")])
    )
    assert np.array_equal(
        secondary.writes[-1], np.vstack([period[n] for n in ("lateral_galvo", "laser_blanking")])
    )
    starts = [c.task for c in recorder.rpcs("StartTask")]
    assert starts.index(secondary.name) < starts.index(primary.name) == len(starts) - 1
    assert secondary.started_at == primary.started_at  # fired by the primary's start trigger
    board.close()


def test_boards_without_a_shared_start_trigger_are_refused(
    two_boards: tuple[str, Recorder],
) -> None:
    address, recorder = two_boards
    cfg = rig_config()
    cfg["channels"]["laser_blanking"]["physical"] = "Dev2/ao1"
    board = NiDaqBoard(address)
    with pytest.raises(DaqError, match=r"span devices Dev1, Dev2: set daq\.start_trigger"):
        board.configure(DaqSettings.from_config(cfg))
    assert recorder.calls == []
    board.close()


def test_readback_is_the_lagged_piezo_command(server: tuple[str, Recorder]) -> None:
    address, _ = server
    period = waveforms()
    board = open_board(address, rig_config())
    board.write(period)
    board.start()
    readback = board.read_piezo_um()
    lagged = periodic_lag_response(period["piezo"], RATE, 0.002) * 40.0
    assert readback is not None
    assert np.allclose(readback, lagged)
    assert not np.allclose(readback, period["piezo"] * 40.0, atol=1.0)
    board.close()


def test_a_read_back_half_a_second_late_still_finds_its_samples(
    server: tuple[str, Recorder],
) -> None:
    """A scanner held up for a moment (a loaded machine, a pause of its interpreter) must not
    lose the run to an overwritten read-back buffer: it holds seconds, not a few periods."""
    address, _ = server
    period = waveforms()
    board = open_board(address, rig_config())
    board.write(period)
    board.start()
    time.sleep(0.5)  # the stall under test: 25 periods of 20 ms
    readback = board.read_piezo_um()
    assert readback is not None
    assert np.allclose(readback, periodic_lag_response(period["piezo"], RATE, 0.002) * 40.0)
    board.close()


def test_static_outputs_after_a_run_reload_the_period_on_the_next_start(
    server: tuple[str, Recorder],
) -> None:
    address, recorder = server
    period = waveforms()
    board = open_board(address, rig_config())
    board.write(period)
    board.start()
    board.stop()
    board.set_static({"z_galvo": 2.0})
    assert recorder.output_values()["Dev1/ao1"] == 2.0
    board.start()
    ao = hw_task(recorder, "ao_Dev1")
    assert ao.state == "running" and ao.buffer is not None
    assert np.array_equal(ao.writes[-1], np.vstack([period[n] for n in OUTPUT_NAMES]))
    assert recorder.errors == []
    board.close()


def test_set_safe_only_logs_when_the_server_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    grpc_server, port, _ = serve("localhost:0")
    board = open_board(f"localhost:{port}", rig_config())
    board.write(waveforms())
    board.start()
    grpc_server.stop(0)
    with caplog.at_level(logging.ERROR):
        board.set_safe()
        board.close()
    assert not board.is_running
    assert "safe values failed" in caplog.text


def test_rehearse_reports_what_arrived() -> None:
    report = rehearse(rig_config(), waveforms())
    assert "result: OK" in report
    for expected in (
        "ao_voltage piezo = Dev1/ao0: [0, 10] V",
        "ao_voltage camera_trigger = Dev1/ao4: [0, 5] V",
        "ai_voltage piezo_readback = Dev1/ai0: [-10, 10] V",
        f"sample clock 20000 Hz from onboard clock, continuous, {N_SAMPLES} samples per channel",
        "start trigger: /Dev1/ao/StartTrigger (rising)",
        "    z_galvo: -2.5 .. 0.5",
        f"piezo read-back: {N_SAMPLES} samples",
        "driver errors: none",
    ):
        assert expected in report, expected


def test_rehearse_reports_a_driver_error() -> None:
    cfg = rig_config()
    cfg["channels"]["z_galvo"]["physical"] = "Dev1/ao12"
    report = rehearse(cfg, waveforms())
    assert "result: FAILED at configure: " in report
    assert "-200170" in report and "ao12" in report

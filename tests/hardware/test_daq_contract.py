"""The shipped DAQ board contract run against every backend: simulated, and NI through gRPC.

The contract itself lives in ``lightsheet.testing.daq_contract``; here each backend gets its
factory and its two independent views: the simulated board's shared-memory link, and what the
simulated NI-DAQmx gRPC server recorded from the real ``nidaqmx`` client.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lightsheet.hardware.daq.nidaqmx_board import NiDaqBoard
from lightsheet.hardware.daq.protocol import OUTPUT_NAMES, DaqBoard, DaqSettings
from lightsheet.hardware.daq.simulated import SimulatedDaqBoard
from lightsheet.hardware.daq.simulated_link import SimulatedBoardLink
from lightsheet.rehearsal import serve
from lightsheet.testing.daq_contract import N_SAMPLES, DaqBoardContract, rig_config, waveforms


class TestSimulatedDaqBoard(DaqBoardContract):
    """The contract against the simulated board, observed through its shared-memory link."""

    def make_board(self) -> DaqBoard:
        board = SimulatedDaqBoard(max_samples=4096)
        self.observer = SimulatedBoardLink.attach(board.link_name)
        return board

    def read_outputs(self, settings: DaqSettings) -> dict[str, float]:
        return self.observer.outputs()

    def arrivals(self) -> object:
        state, periods = self.observer.channels(OUTPUT_NAMES)
        return state, {name: p.tobytes() for name, p in periods.items()}

    def release_backend(self) -> None:
        self.observer.close()


class TestNiDaqBoardOverGrpc(DaqBoardContract):
    """The contract against the NI backend, observed in the simulated gRPC server's recording."""

    def make_board(self) -> DaqBoard:
        self.server, port, self.recorder = serve("localhost:0")
        return NiDaqBoard(f"localhost:{port}")

    def read_outputs(self, settings: DaqSettings) -> dict[str, float]:
        values = self.recorder.output_values()
        return {name: values[out.physical] for name, out in settings.outputs.items()}

    def arrivals(self) -> object:
        return len(self.recorder.calls)

    def release_backend(self) -> None:
        self.server.stop(0)


def test_without_readback_the_piezo_reads_none() -> None:
    board = SimulatedDaqBoard(max_samples=N_SAMPLES)
    try:
        board.configure(DaqSettings.from_config(rig_config(readback=False)))
        board.write(waveforms())
        board.start()
        assert board.read_piezo_um() is None
    finally:
        board.close()


def test_settings_from_config_models_and_attribute_objects() -> None:
    from lightsheet.config.models import RigConfig

    default = DaqSettings.from_config(RigConfig().daq)
    assert set(default.outputs) == set(OUTPUT_NAMES)
    assert default.readback is not None
    as_attributes = SimpleNamespace(
        **{
            **rig_config(start_trigger="/Dev1/PFI0"),
            "channels": SimpleNamespace(
                **{k: SimpleNamespace(**v) for k, v in rig_config()["channels"].items()}
            ),
            "piezo_readback": SimpleNamespace(**rig_config()["piezo_readback"]),
        }
    )
    settings = DaqSettings.from_config(as_attributes)
    assert settings.outputs["camera_trigger"].physical == "Dev1/ao4"
    assert settings.limits["z_galvo"].safe_v == -1.0
    assert settings.start_trigger == "/Dev1/PFI0"


def test_settings_refuse_a_missing_output_or_unknown_trigger_kind() -> None:
    settings = DaqSettings.from_config(rig_config())
    with pytest.raises(ValueError, match="missing: \\['camera_trigger'\\]"):
        DaqSettings(20000.0, {k: v for k, v in settings.outputs.items() if k != "camera_trigger"})
    with pytest.raises(ValueError, match="camera_trigger_kind"):
        DaqSettings(20000.0, settings.outputs, camera_trigger_kind="pwm")

"""A scanner killed on an NI board: the main process drives every output safe itself.

An NI analog output holds its last value when the process that owns the task dies. The rig here
is the real ``nidaqmx`` client talking to the simulated NI-DAQmx gRPC server, which, like the
driver, keeps a dead client's tasks and their outputs until someone releases them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from lightsheet.app.session import Session
from lightsheet.config import RigConfig
from lightsheet.hardware.daq.protocol import DaqSettings
from lightsheet.rehearsal import Recorder, serve
from lightsheet.rehearsal.rehearse import devices_for
from tests.pipeline.rigs import small_rig
from tests.waiting import wait_until


def ni_rig(address: str) -> RigConfig:
    config = small_rig(planes=5)  # a free-running simulated camera: no board link to follow
    daq = config.daq.model_dump()
    daq.update(backend="nidaqmx", use_grpc=True, grpc_address=address)
    return config.updated(daq=daq)


@pytest.fixture
def ni_server() -> Iterator[tuple[str, Recorder]]:
    settings = DaqSettings.from_config(small_rig().daq)
    server, port, recorder = serve("localhost:0", devices_for(settings, piezo_lag_ms=2.0))
    yield f"localhost:{port}", recorder
    server.stop(0)


def test_a_killed_scanner_leaves_every_output_at_its_safe_value(
    tmp_path, ni_server, caplog
) -> None:
    address, recorder = ni_server
    config = ni_rig(address)
    settings = DaqSettings.from_config(config.daq)
    physical = {name: out.physical for name, out in settings.outputs.items()}
    with Session(config, log_dir=tmp_path / "logs") as session:
        session.set_mode("volumetric")
        playing = recorder.output_values()
        assert any(playing[physical[n]] != settings.safe_values[n] for n in physical), playing
        os.kill(session.process_pids()["scanner"], signal.SIGKILL)
        wait_until(lambda: session.fault is not None, 5, "the scanner's death")
        wait_until(lambda: session.process_states().get("saver") != "running", 15, "shutdown")
        outputs = recorder.output_values()
    for name, line in physical.items():
        assert outputs[line] == pytest.approx(settings.safe_values[name]), (name, outputs)
    assert not [t.name for t in recorder.live.values() if t.state == "running"]
    assert any("every output driven to its safe value" in r.getMessage() for r in caplog.records)

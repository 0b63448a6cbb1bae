"""A simulated NI-DAQmx gRPC device server: the NI backend's rehearsal stage and test bench.

``serve()`` starts it in-process on a free port, ``run_server(address)`` serves until
interrupted, ``rehearse(daq_cfg, channels)`` runs the NI backend through it and reports.
"""

from lightsheet.hardware.ni_grpc.devices import DriverError, SimulatedDevice
from lightsheet.hardware.ni_grpc.recording import ChannelRecord, Recorder, TaskRecord
from lightsheet.hardware.ni_grpc.rehearse import rehearse
from lightsheet.hardware.ni_grpc.server import run_server, serve

__all__ = [
    "ChannelRecord",
    "DriverError",
    "Recorder",
    "SimulatedDevice",
    "TaskRecord",
    "rehearse",
    "run_server",
    "serve",
]

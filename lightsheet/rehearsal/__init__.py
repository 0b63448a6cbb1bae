"""Rehearsal bench: a simulated NI-DAQmx gRPC server for the NI backend, never on a run's path.

``serve()`` starts it in-process on a free port, ``run_server(address)`` serves until
interrupted, ``rehearse(daq_cfg, channels)`` runs the NI backend through it and reports.
"""

from lightsheet.rehearsal.devices import DriverError, SimulatedDevice
from lightsheet.rehearsal.recording import ChannelRecord, Recorder, TaskRecord
from lightsheet.rehearsal.rehearse import rehearse
from lightsheet.rehearsal.server import run_server, serve

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

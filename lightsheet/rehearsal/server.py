"""Serving the simulated NI-DAQmx device on a gRPC port, in-process or until interrupted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent import futures

import grpc
from nidaqmx._stubs import nidaqmx_pb2_grpc as pb_grpc

from lightsheet.rehearsal.devices import DeviceSet, SimulatedDevice
from lightsheet.rehearsal.recording import Recorder
from lightsheet.rehearsal.servicer import SimulatedNiDaqmxServicer

_log = logging.getLogger(__name__)
MAX_WORKERS = 8


def serve(
    address: str = "localhost:0",
    devices: Sequence[SimulatedDevice] | None = None,
) -> tuple[grpc.Server, int, Recorder]:
    """Start a server for the given devices (default: one ``Dev1``); stop it with ``.stop(0)``.

    Returns the server, the port it listens on (the free port chosen for ``:0``) and the
    recorder of everything that arrives.
    """
    recorder = Recorder()
    servicer = SimulatedNiDaqmxServicer(
        DeviceSet(list(devices) if devices else [SimulatedDevice()]), recorder
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS))
    pb_grpc.add_NiDAQmxServicer_to_server(servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    _log.info("simulated NI-DAQmx server listening on port %d", port)
    return server, port, recorder


def run_server(address: str, devices: Sequence[SimulatedDevice] | None = None) -> None:
    """Serve until interrupted (Ctrl-C), then stop cleanly."""
    server, port, _ = serve(address, devices)
    names = ", ".join(d.name for d in devices) if devices else "Dev1"
    _log.info("simulated NI-DAQmx devices %s served at %s (port %d)", names, address, port)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        _log.info("simulated NI-DAQmx server interrupted")
    finally:
        server.stop(grace=1.0).wait()

"""Opening the DAQ board a config names, configured and with every output safe."""

from __future__ import annotations

from typing import Any

from lightsheet.hardware.daq import DaqBoard, DaqSettings


def open_daq_board(
    daq_cfg: Any,
    link_name: str | None = None,
    grpc_address: str | None = None,
) -> DaqBoard:
    """The configured board for the ``daq`` config section.

    ``link_name`` is the simulated board's shared-memory link (see
    ``lightsheet.hardware.simulated_daq``); ``grpc_address`` sends the nidaqmx backend to an NI
    gRPC device server (e.g. ``daq.grpc_address`` while rehearsing) instead of the local driver.
    """
    settings = DaqSettings.from_config(daq_cfg)
    backend = daq_cfg.backend
    board: DaqBoard
    if backend == "simulated":
        from lightsheet.hardware.simulated_daq import SimulatedDaqBoard

        board = SimulatedDaqBoard(link_name, piezo_lag_ms=float(daq_cfg.simulated.piezo_lag_ms))
    elif backend == "nidaqmx":
        from lightsheet.hardware.ni_daq import NiDaqBoard

        board = NiDaqBoard(grpc_address)
    else:
        raise ValueError(f"unknown DAQ backend {backend!r} (simulated or nidaqmx)")
    try:
        board.configure(settings)
    except Exception:
        board.close()
        raise
    return board

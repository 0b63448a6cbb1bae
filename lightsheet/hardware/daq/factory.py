"""Opening the DAQ board a config names, configured and with every output safe."""

from __future__ import annotations

from typing import Any, Protocol

from lightsheet.hardware.daq.protocol import DaqBoard, DaqSettings


class BoardLink(Protocol):
    """What the main process holds of a simulated board: its name for the children, its outputs."""

    @property
    def name(self) -> str: ...

    def outputs(self) -> dict[str, float]: ...

    def close(self) -> None: ...


def create_board_link(daq_cfg: Any) -> BoardLink | None:
    """The shared-memory link a simulated board publishes on (owned by the caller), or None for
    real hardware, whose outputs are wires."""
    if daq_cfg.backend != "simulated":
        return None
    from lightsheet.hardware.daq.simulated_link import SimulatedBoardLink

    return SimulatedBoardLink.create()


def open_daq_board(
    daq_cfg: Any,
    link_name: str | None = None,
    grpc_address: str | None = None,
) -> DaqBoard:
    """The configured board for the ``daq`` config section.

    ``link_name`` is the simulated board's shared-memory link (see
    ``lightsheet.hardware.daq.simulated``); ``grpc_address`` sends the nidaqmx backend to an NI
    gRPC device server (e.g. ``daq.grpc_address`` while rehearsing) instead of the local driver.
    """
    settings = DaqSettings.from_config(daq_cfg)
    backend = daq_cfg.backend
    board: DaqBoard
    if backend == "simulated":
        from lightsheet.hardware.daq.simulated import SimulatedDaqBoard

        board = SimulatedDaqBoard(link_name, piezo_lag_ms=float(daq_cfg.simulated.piezo_lag_ms))
    elif backend == "nidaqmx":
        from lightsheet.hardware.daq.nidaqmx_board import NiDaqBoard

        board = NiDaqBoard(grpc_address)
    else:
        raise ValueError(f"unknown DAQ backend {backend!r} (simulated or nidaqmx)")
    try:
        board.configure(settings)
    except Exception:
        board.close()
        raise
    return board

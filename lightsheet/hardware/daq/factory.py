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
    board = _new_board(daq_cfg, link_name, grpc_address)
    try:
        board.configure(settings)
    except Exception:
        board.close()
        raise
    return board


def drive_outputs_safe(
    daq_cfg: Any, link_name: str | None = None, orphan_sessions: tuple[str, ...] = ()
) -> dict[str, float]:
    """Take the board over from a process that died and put every output at its safe value.

    An NI analog output holds its last value when the process that owned the task dies:
    lasers and galvos would stay where they were. The main process calls this at once; it
    releases what the dead process left on a server, configures the board (which drives every
    output to its safe value) and closes it again. Returns the safe values it drove.
    """
    board = _new_board(daq_cfg, link_name, None)
    try:
        board.release_sessions(orphan_sessions)
        settings = DaqSettings.from_config(daq_cfg)
        board.configure(settings)
        return settings.safe_values
    finally:
        board.close()


def _new_board(daq_cfg: Any, link_name: str | None, grpc_address: str | None) -> DaqBoard:
    backend = daq_cfg.backend
    if backend == "simulated":
        from lightsheet.hardware.daq.simulated import SimulatedDaqBoard

        return SimulatedDaqBoard(link_name, piezo_lag_ms=float(daq_cfg.simulated.piezo_lag_ms))
    if backend == "nidaqmx":
        from lightsheet.hardware.daq.nidaqmx_board import NiDaqBoard

        if grpc_address is None and getattr(daq_cfg, "use_grpc", False):
            grpc_address = str(daq_cfg.grpc_address)
        return NiDaqBoard(grpc_address)
    raise ValueError(f"unknown DAQ backend {backend!r} (simulated or nidaqmx)")

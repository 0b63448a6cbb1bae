"""``lightsheet rehearse``: a rig config's NI path against the simulated NI-DAQmx gRPC server.

A lab checks its channel map and waveforms here before it touches hardware: the real ``nidaqmx``
client and the real backend talk to a server that records what a board would have received.
``--serve`` keeps such a server running for other tools (``daq.grpc_address``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from lightsheet.app.scan_plan import SCAN_MODES, ScanConfigError, scan_waveforms
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.cli.rig import load_rig
from lightsheet.hardware.daq.protocol import DaqSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rehearse", help="play a config's waveforms through nidaqmx into a simulated NI board"
    )
    parser.add_argument("--config", help="rig config (default: the simulated rig)")
    parser.add_argument(
        "--mode", choices=SCAN_MODES, help="scan to rehearse (default: the config's)"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="instead, serve the simulated NI board at daq.grpc_address until Ctrl-C",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_rig(args.config)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from lightsheet.rehearsal.rehearse import devices_for, rehearse

    try:
        settings = DaqSettings.from_config(config.daq)
    except ValueError as exc:
        raise UsageError(f"daq: {exc}") from None
    lag_ms = float(config.daq.simulated.piezo_lag_ms)
    if args.serve:
        from lightsheet.rehearsal.server import run_server

        run_server(config.daq.grpc_address, devices_for(settings, lag_ms))
        return ExitCode.OK
    mode = args.mode or config.scanning.mode
    try:
        waveforms = scan_waveforms(config, mode)
    except ScanConfigError as exc:
        raise UsageError(str(exc)) from None
    report = rehearse(config.daq, waveforms.channels)
    print(f"{mode} scan: {waveforms.n_samples} samples per period at "
          f"{waveforms.sample_rate_hz:g} Hz, {waveforms.frames_per_period} camera trigger(s)")
    print(report)
    return ExitCode.OK if "result: OK" in report else ExitCode.FAULT

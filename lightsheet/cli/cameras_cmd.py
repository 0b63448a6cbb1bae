"""``lightsheet cameras``: every camera each installed backend can see, or why it cannot.

The network rule holds here too: without ``--discover`` nothing is broadcast; GigE Vision cameras
are opened only at the addresses given (``--address``, or ``camera.device`` of ``--config``);
``--discover`` sends a discovery through each ``--interface`` named and nowhere else.
"""

from __future__ import annotations

import argparse

from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.cli.rig import load_rig
from lightsheet.hardware.camera.protocol import CameraError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "cameras", help="list the cameras each backend can see (no network broadcast unasked)"
    )
    parser.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="ADDR",
        help="also open the GigE Vision camera at ADDR (repeatable; Fake_1: Aravis test camera)",
    )
    parser.add_argument(
        "--config", help="also open the camera this rig config names (camera.device)"
    )
    parser.add_argument(
        "--discover",
        action="store_true",
        help="find GigE Vision cameras by a discovery broadcast on the --interface(s) named",
    )
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME",
        help="network interface for --discover (repeatable), e.g. eth1",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.discover and not args.interface:
        raise UsageError(
            "--discover needs --interface NAME: a discovery broadcast only leaves through the "
            "interfaces you name"
        )
    if args.interface and not args.discover:
        raise UsageError("--interface only applies with --discover")
    addresses = list(args.address)
    if args.config:
        camera = load_rig(args.config).camera
        if camera.backend == "genicam" and camera.device:
            addresses.append(camera.device)
    from lightsheet.hardware.camera.listing import list_cameras

    try:
        listing = list_cameras(addresses, args.interface if args.discover else ())
    except CameraError as exc:  # an interface that does not exist
        raise UsageError(str(exc)) from None
    for entry in listing:
        print(entry.line(), flush=True)
    return ExitCode.FAULT if any(entry.problem for entry in listing) else ExitCode.OK

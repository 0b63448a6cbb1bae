"""``lightsheet gui``: the operator's window on the configured rig (simulated by default)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import UsageError
from lightsheet.cli.rig import load_rig

# The GUI sits above the CLI in the layers of DESIGN.md, so the command reaches it by name at
# run time: the rest of the command line never imports Qt or napari.
GUI_MODULE = "lightsheet.gui.app"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("gui", help="open the acquisition window")
    parser.add_argument("--config", help="rig config (default: the simulated rig)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_rig(args.config)
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise UsageError("no display (DISPLAY is not set); use `lightsheet acquire` headless")
    try:
        gui = importlib.import_module(GUI_MODULE)
    except ImportError as exc:
        raise UsageError(f"the GUI cannot start: {exc}") from None
    config_path = Path(args.config) if args.config else None
    return ExitCode(gui.run_gui(config, config_path))

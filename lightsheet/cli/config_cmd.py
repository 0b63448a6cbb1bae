"""``lightsheet config check|show|init``: validate, resolve and create rig configs."""

from __future__ import annotations

import argparse
import sys

from lightsheet.cli.exit_codes import ExitCode
from lightsheet.config import RigConfig, dump_config, init_config, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="check, show or create a rig config (YAML)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    check = actions.add_parser("check", help="validate FILE; exit 0 with one OK line, else errors")
    check.add_argument("file")
    check.set_defaults(run=_check)
    show = actions.add_parser("show", help="print the resolved config (defaults filled in)")
    show.add_argument("file", nargs="?", help="config file (default: the simulated rig)")
    show.set_defaults(run=_show)
    init = actions.add_parser("init", help="write the annotated default config to FILE")
    init.add_argument("file")
    init.set_defaults(run=_init)


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: OK (rig '{config.name}', schema version {config.schema_version})")
    return ExitCode.OK


def _show(args: argparse.Namespace) -> int:
    config = load_config(args.file) if args.file else RigConfig()
    sys.stdout.write(dump_config(config))
    return ExitCode.OK


def _init(args: argparse.Namespace) -> int:
    init_config(args.file)
    print(f"{args.file}: written (the simulated rig; edit it for your hardware)")
    return ExitCode.OK

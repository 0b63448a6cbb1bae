"""``lightsheet config check|show|init``: validate, resolve and create rig configs.

``check`` accepts only what the rig will run: after the schema, the scan of the config's own mode
goes through the same timing and waveform-limit checks the Session applies, each refusal naming
its line, its key and a fix. The other scan mode's refusals are printed as notes (the GUI refuses
to switch to it), without failing the check.
"""

from __future__ import annotations

import argparse
import sys

from lightsheet.app.limits import config_issues
from lightsheet.app.scan_plan import SCAN_MODES
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.config import (
    ConfigError,
    RigConfig,
    dump_config,
    init_config,
    load_config,
    parse_config_text,
    parse_document_text,
)
from lightsheet.config.yaml_io import read_text


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
    text = read_text(args.file)
    config = parse_config_text(text, source=args.file)
    document = parse_document_text(text, args.file)
    issues = config_issues(config, document, args.file)
    if issues:
        raise ConfigError(issues)
    mode = config.scanning.mode
    print(f"{args.file}: OK (rig '{config.name}', schema version {config.schema_version}, "
          f"the {mode} scan plays on it)")  # fmt: skip
    for other in (m for m in SCAN_MODES if m != mode):
        for issue in config_issues(config, document, args.file, modes=[other]):
            print(f"note: {other} mode would be refused: {issue}")
    return ExitCode.OK


def _show(args: argparse.Namespace) -> int:
    config = load_config(args.file) if args.file else RigConfig()
    sys.stdout.write(dump_config(config))
    return ExitCode.OK


def _init(args: argparse.Namespace) -> int:
    init_config(args.file)
    print(f"{args.file}: written (the simulated rig; edit it for your hardware)")
    return ExitCode.OK

"""Entry point of the ``lightsheet`` command: sub-commands, and the exit-code contract."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lightsheet import __version__
from lightsheet.cli import (
    acquire_cmd,
    cameras_cmd,
    config_cmd,
    gui_cmd,
    inspect_cmd,
    logs_cmd,
    process_cmd,
    rehearse_cmd,
)
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.parser import OneLineParser, UsageError
from lightsheet.config import ConfigError

COMMANDS = (
    gui_cmd,
    acquire_cmd,
    config_cmd,
    logs_cmd,
    inspect_cmd,
    process_cmd,
    rehearse_cmd,
    cameras_cmd,
)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="lightsheet",
        description="Acquisition software for light-sheet microscopes "
        "(simulated rig unless --config names a real one).",
    )
    parser.add_argument("--version", action="version", version=f"lightsheet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return ExitCode.BAD_INPUT
    except UsageError as exc:
        sys.stderr.write(f"lightsheet {args.command}: error: {exc}\n")
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("lightsheet: interrupted\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `lightsheet logs | head` closes the pipe early; that is not an error.
        return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())

"""Exit codes of the command line, as DESIGN.md fixes them for scripts that drive lightsheet."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAULT = 1  # aborted by a fault; data until then kept, cause in the metadata
    BAD_INPUT = 2  # bad usage, config or input: one clear line, no traceback
    DROPPED = 3  # finished, but frames were dropped (counted in the metadata)
    INTERRUPTED = 130  # Ctrl-C, after a clean stop

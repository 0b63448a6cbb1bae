"""lightsheet: acquisition software for light-sheet microscopes."""

__version__ = "0.1.0"

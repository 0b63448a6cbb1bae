"""The rig config a command runs on: the named file, or the simulated rig's defaults."""

from __future__ import annotations

from lightsheet.config import RigConfig, load_config


def load_rig(path: str | None) -> RigConfig:
    """Load and validate ``path``; without one, the simulated rig (ConfigError on bad input)."""
    return load_config(path) if path else RigConfig()

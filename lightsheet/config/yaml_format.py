"""The one ruamel.yaml set-up every config reader and writer uses, so files look alike."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter

LINE_WIDTH = 100


class _Representer(RoundTripRepresenter):
    """Round-trip representer that writes null explicitly instead of leaving the value empty."""


def _represent_none(representer: RoundTripRepresenter, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _represent_str(representer: RoundTripRepresenter, data: str) -> Any:
    # ruamel writes these line separators raw inside single quotes and reads them back as
    # spaces; double quotes escape them, so the text survives a save.
    if any(separator in data for separator in "\x85\u2028\u2029"):
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return representer.represent_str(data)


# Registered on a subclass: ruamel's registry is per class, so other YAML users are unaffected.
_Representer.add_representer(type(None), _represent_none)
_Representer.add_representer(str, _represent_str)


def new_yaml() -> YAML:
    """Round-trip YAML that keeps comments, key order and quoting of what it loads."""
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long values; comments are wrapped by whoever writes them
    return yaml


def to_text(node: Any) -> str:
    """YAML text of a round-trip node."""
    stream = io.StringIO()
    new_yaml().dump(node, stream)
    return stream.getvalue()

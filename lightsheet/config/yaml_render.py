"""Models to YAML: the resolved config, and the annotated default written from the descriptions.

The annotated default (config/simulated.yaml) is generated rather than hand-written so that it can
never disagree with the models.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from lightsheet.config.models import RigConfig
from lightsheet.config.pydantic_issues import unwrap_annotation
from lightsheet.config.yaml_format import LINE_WIDTH, to_text

HEADER = """\
lightsheet rig configuration: the simulated rig, which runs on any machine without hardware.
Copy this file, edit it for your rig, then check it with `lightsheet config check FILE`.
Every key is optional: a key left out takes the value shown here, so an empty file is the
simulated rig. Comments are kept when the GUI saves this file."""


def default_config_text() -> str:
    """The annotated default config: every section and field with its description above it."""
    return to_text(build_node(RigConfig, RigConfig().model_dump(mode="json"), annotate=True))


def dump_config(config: RigConfig) -> str:
    """The resolved config (every default filled in) as YAML."""
    return to_text(build_node(RigConfig, config.model_dump(mode="json"), annotate=False))


def build_node(
    model: type[BaseModel], data: Mapping[str, Any], indent: int = 0, *, annotate: bool
) -> CommentedMap:
    """A round-trip mapping of ``data`` (a ``model_dump(mode="json")``) in the model's field order.

    With ``annotate`` every key gets its field description as a comment; the top level always
    separates sections with a blank line.
    """
    node = CommentedMap()
    for index, (name, field) in enumerate(model.model_fields.items()):
        node[name] = build_value(field, data[name], indent, annotate=annotate)
        first_of_file = annotate and model is RigConfig and index == 0
        header = [*HEADER.splitlines(), ""] if first_of_file else []
        set_key_comment(node, name, model, field, indent, annotate=annotate, header=header)
    return node


def set_key_comment(
    node: CommentedMap,
    name: str,
    model: type[BaseModel],
    field: FieldInfo,
    indent: int,
    *,
    annotate: bool,
    header: list[str] | None = None,
) -> None:
    """Put the comment lines that belong above ``name``: header, blank line, description."""
    lines = list(header or [])
    if model is RigConfig and isinstance(node[name], CommentedMap):
        lines.append("")  # sections are separated by a blank line
    if annotate:
        lines += field_comment(field, indent)
    if lines:
        node.yaml_set_comment_before_after_key(name, before="\n".join(lines), indent=indent)


def build_value(field: FieldInfo, value: Any, indent: int, *, annotate: bool) -> Any:
    """The round-trip node of one field's value: sections as block mappings, short lists in flow."""
    annotation = unwrap_annotation(field.annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and value is not None:
        return build_node(annotation, value, indent + 2, annotate=annotate)
    if isinstance(value, list):
        item_type = unwrap_annotation(get_args(annotation)[0]) if get_args(annotation) else None
        if isinstance(item_type, type) and issubclass(item_type, BaseModel):
            return CommentedSeq(
                build_node(item_type, item, indent + 4, annotate=False) for item in value
            )
        sequence = CommentedSeq(value)
        sequence.fa.set_flow_style()
        return sequence
    return value


def field_comment(field: FieldInfo, indent: int) -> list[str]:
    """The description of a field and its allowed values, wrapped to the line width."""
    text = " ".join(part for part in (field.description or "", allowed_values(field)) if part)
    return textwrap.wrap(text, width=LINE_WIDTH - indent - 2)


def allowed_values(field: FieldInfo) -> str:
    """``One of: a, b.`` for choices, ``Range: 1 to 9.`` and the like for bounds."""
    annotation = unwrap_annotation(field.annotation)
    if get_origin(annotation) is Literal:
        return "One of: " + ", ".join(str(choice) for choice in get_args(annotation)) + "."
    bounds: dict[str, Any] = {}
    for constraint in field.metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(constraint, getattr(annotated_types, kind.capitalize())):
                bounds[kind] = getattr(constraint, kind)
    if "ge" in bounds and "le" in bounds:
        return f"Range: {bounds['ge']} to {bounds['le']}."
    words = {"ge": "At least", "gt": "Greater than", "le": "At most", "lt": "Less than"}
    return " ".join(f"{words[kind]} {value}." for kind, value in bounds.items())

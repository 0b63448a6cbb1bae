"""Translate pydantic validation errors into ConfigIssues with the line of the offending key.

Pydantic's own messages ("Input should be greater than or equal to 0.01") name neither the file
nor the line; operators edit YAML by hand and need both, plus the allowed values.
"""

from __future__ import annotations

import datetime
import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError
from ruamel.yaml.comments import TaggedScalar

from lightsheet.config.errors import ConfigIssue

FIELD_ERROR_TYPE = "lightsheet_config_field"

Loc = Sequence[str | int]


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error a model validator raises to point at one of its fields instead of the model."""
    return PydanticCustomError(FIELD_ERROR_TYPE, "{message}", {"field": field, "message": message})


def issues_from_validation_error(
    error: ValidationError,
    file: str,
    document: Any = None,
    model: type[BaseModel] | None = None,
) -> list[ConfigIssue]:
    """One issue per pydantic error, sorted by line.

    ``document`` is the ruamel round-trip tree the data came from (for line numbers); ``model``
    is the validated class (for "did you mean" suggestions on unknown keys).
    """
    issues = []
    for detail in error.errors(include_url=False):
        loc = list(detail["loc"])
        ctx = detail.get("ctx") or {}
        if detail["type"] == FIELD_ERROR_TYPE and ctx.get("field"):
            loc.append(ctx["field"])
        issues.append(
            ConfigIssue(
                file=file,
                line=line_of(document, loc),
                key_path=key_path(loc),
                message=_message(detail, loc, model),
            )
        )
    return sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0))


def key_path(loc: Loc) -> str:
    """``('daq', 'channels', 'piezo')`` -> ``daq.channels.piezo``; list indexes as ``[i]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def line_of(document: Any, loc: Loc) -> int | None:
    """1-based line of the deepest key of ``loc`` in the document: the parent's when absent."""
    line = None
    node = document
    for part in loc:
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        key: Any = part
        if isinstance(node, dict):
            # Keys were turned into text for validation: find `1:` from "1".
            key = next((k for k in node if k == part or str(k) == part), None)
        elif not (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            break
        # Keys merged in with `<<: *anchor` have no position of their own.
        position = lc.data.get(key) if key is not None else None
        if position is None:
            break
        line = position[0] + 1
        node = node[key]
    return line


def show_value(value: Any) -> str:
    """A value as the operator wrote it in YAML, short enough for one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, TaggedScalar):
        return f"{value.tag} {value.value!r}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(detail: Any, loc: Loc, model: type[BaseModel] | None) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    got = f"(got {show_value(detail.get('input'))})"
    if kind == FIELD_ERROR_TYPE:
        return str(ctx["message"])
    if kind == "extra_forbidden":
        return _unknown_key_message(loc, model)
    if kind == "missing":
        return "required key is missing"
    bound = _BOUND_MESSAGES.get(kind)
    if bound is not None:
        word, key = bound
        return f"must be {word} {_number(ctx[key])} {got}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']} {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_type" and not isinstance(detail.get("input"), (dict, list)):
        # `name: 2024` is a number to YAML; quoting it is the fix.
        return f"expected text {got[:-1]}; put it in quotes)"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    simple = _TYPE_MESSAGES.get(kind)
    if simple is not None:
        return f"{simple} {got}"
    text = str(detail["msg"])
    return f"{text[:1].lower()}{text[1:]} {got}"


_BOUND_MESSAGES = {
    "greater_than_equal": ("greater than or equal to", "ge"),
    "greater_than": ("greater than", "gt"),
    "less_than_equal": ("less than or equal to", "le"),
    "less_than": ("less than", "lt"),
}

_TYPE_MESSAGES = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
}


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unknown_key_message(loc: Loc, model: type[BaseModel] | None) -> str:
    unknown = loc[-1] if loc else ""
    fields = _fields_at(model, loc[:-1]) if model is not None else []
    close = difflib.get_close_matches(str(unknown), fields, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]}?)"
    if fields:
        return f"unknown key (known keys: {', '.join(fields)})"
    return "unknown key"


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model reached by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = unwrap_annotation(current)
        if isinstance(part, int):
            args = get_args(current)
            current = args[0] if args else None
        elif _is_model(current) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = unwrap_annotation(current)
    return list(current.model_fields) if _is_model(current) else []


def unwrap_annotation(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` so that the model or container type remains."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)

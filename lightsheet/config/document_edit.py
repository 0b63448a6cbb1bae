"""Write a RigConfig's values into an operator's round-trip YAML without losing their comments.

ruamel stores the comment lines that precede a key on the previous key (or on the last key
nested under it), and those that precede a mapping's first key on the mapping's parent. Adding,
removing or replacing keys therefore moves those comments explicitly, so every comment stays
above the key it was written for.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from lightsheet.config.models import RigConfig
from lightsheet.config.pydantic_issues import unwrap_annotation
from lightsheet.config.yaml_render import build_node, build_value, set_key_comment

# Where ruamel keeps the comment after an entry: index 2 of a mapping key's comment entry,
# index 0 of a sequence item's.
_MAP_TRAILING = 2
_SEQ_TRAILING = 0
_MAP_LEADING_OF_CHILD = 3

# The owner of a mapping's leading comments: (parent mapping, key) or None for the root.
Owner = tuple[CommentedMap, Any] | None


def update_document(document: CommentedMap, config: RigConfig) -> CommentedMap:
    """Make ``document`` hold ``config``'s values, keeping comments, key order and unchanged text.

    Unchanged values keep their spelling; missing keys are added, with their description as a
    comment, after the key that precedes them in the model; keys the model does not know are
    removed. Returns ``document``, changed in place.
    """
    _merge_mapping(document, config.model_dump(mode="json"), RigConfig, 0, owner=None)
    return document


def _merge_mapping(
    node: CommentedMap, data: dict[str, Any], model: type[BaseModel], indent: int, owner: Owner
) -> None:
    for key in [key for key in node if key not in data]:
        _remove_key(node, key)
    names = list(model.model_fields)
    for position, name in enumerate(names):
        field = model.model_fields[name]
        if name in node:
            _merge_value(node, name, field, data[name], indent)
        else:
            present = list(node)
            before = [present.index(other) for other in names[:position] if other in node]
            _insert_key(node, max(before, default=-1) + 1, name, model, data[name], indent, owner)


def _merge_value(node: CommentedMap, key: str, field: FieldInfo, value: Any, indent: int) -> None:
    old = node[key]
    annotation = unwrap_annotation(field.annotation)
    if isinstance(old, CommentedMap) and isinstance(value, dict) and _is_model(annotation):
        _merge_mapping(old, value, annotation, indent + 2, owner=(node, key))
        return
    if isinstance(old, CommentedSeq) and isinstance(value, list):
        _merge_sequence(node, key, _item_model(annotation), value, indent)
        return
    if _same_scalar(old, value):
        return
    new = build_value(field, value, indent, annotate=True)
    if isinstance(old, CommentedSeq) and isinstance(new, CommentedSeq):
        if old.fa.flow_style():
            new.fa.set_flow_style()
        else:
            new.fa.set_block_style()
    moves = _is_block(old) or _is_block(new)
    tail = _detach_tail(node, key) if moves else ""
    node[key] = new
    _attach_tail(node, key, tail)


def _merge_sequence(
    node: CommentedMap,
    key: str,
    item_model: type[BaseModel] | None,
    value: list[Any],
    indent: int,
) -> None:
    """Edit the list in place, so comments on the items that stay are kept."""
    sequence = node[key]
    if not sequence and value:
        # `[]` grows into a flow list of numbers, or a block list of mappings.
        if item_model is None:
            sequence.fa.set_flow_style()
        else:
            sequence.fa.set_block_style()
    tail = _detach_tail(node, key) if len(sequence) != len(value) else ""
    while len(sequence) > len(value):
        del sequence[len(sequence) - 1]
    for index, item in enumerate(value):
        if index >= len(sequence):
            if item_model is not None and isinstance(item, dict):
                item = build_node(item_model, item, indent + 4, annotate=False)
            sequence.append(item)
        elif isinstance(sequence[index], CommentedMap) and item_model and isinstance(item, dict):
            _merge_mapping(sequence[index], item, item_model, indent + 4, owner=None)
        elif not _same_scalar(sequence[index], item):
            sequence[index] = item
    _attach_tail(node, key, tail)


def _insert_key(
    node: CommentedMap,
    position: int,
    name: str,
    model: type[BaseModel],
    value: Any,
    indent: int,
    owner: Owner,
) -> None:
    field = model.model_fields[name]
    present = list(node)
    tail = ""
    if position > 0:
        # Comments after the previous key were written above the key that followed it, unless
        # indented under the previous key.
        tail = _detach_tail(node, present[position - 1], deeper_than=indent)
    elif present:
        _hand_leading_comment_to_first_key(node, owner, present[0], indent)
    node.insert(position, name, build_value(field, value, indent, annotate=True))
    set_key_comment(node, name, model, field, indent, annotate=True)
    _attach_tail(node, name, tail)


def _remove_key(node: CommentedMap, key: Any) -> None:
    present = list(node)
    position = present.index(key)
    tail = _detach_tail(node, key)
    del node[key]
    node.ca.items.pop(key, None)
    if position > 0:
        _attach_tail(node, present[position - 1], tail)


def _hand_leading_comment_to_first_key(
    node: CommentedMap, owner: Owner, first_key: Any, indent: int
) -> None:
    """Before a new first key: the comment block touching the old first key moves onto it.

    Whatever is separated from it by a blank line (a file header) stays at the top.
    """
    tokens = _leading_tokens(node, owner)
    if not tokens:
        return
    lines = "".join(token.value for token in tokens).splitlines()
    blanks = [index for index, line in enumerate(lines) if not line.strip()]
    split = blanks[-1] + 1 if blanks else 0
    header, attached = lines[:split], lines[split:]
    _set_leading_tokens(node, owner, [_token("\n".join(header) + "\n", 0)] if header else None)
    if attached:
        entry = node.ca.items.setdefault(first_key, [None, None, None, None])
        entry[1] = [_token("\n".join(attached) + "\n", indent), *(entry[1] or [])]


def _leading_tokens(node: CommentedMap, owner: Owner) -> list[CommentToken]:
    if owner is None:
        comment = node.ca.comment
        return list(comment[1] or []) if comment and len(comment) > 1 else []
    parent, key = owner
    entry = parent.ca.items.get(key)
    return list(entry[_MAP_LEADING_OF_CHILD] or []) if entry else []


def _set_leading_tokens(
    node: CommentedMap, owner: Owner, tokens: list[CommentToken] | None
) -> None:
    if owner is None:
        if node.ca.comment:
            node.ca.comment[1] = tokens
        return
    parent, key = owner
    parent.ca.items[key][_MAP_LEADING_OF_CHILD] = tokens
    if node.ca.comment:
        node.ca.comment[1] = tokens


def _trailing_slot(container: Any, key: Any) -> tuple[Any, Any, int]:
    """(container, key, index) of the comment that follows the last line of ``container[key]``."""
    value = container[key]
    if _is_block(value) and isinstance(value, CommentedMap):
        return _trailing_slot(value, list(value)[-1])
    if _is_block(value) and isinstance(value, CommentedSeq):
        return _trailing_slot(value, len(value) - 1)
    return container, key, _MAP_TRAILING if isinstance(container, CommentedMap) else _SEQ_TRAILING


def _detach_tail(container: Any, key: Any, deeper_than: int | None = None) -> str:
    """Cut the comment lines after ``container[key]`` and return them.

    Its end-of-line comment stays, and so do the first lines indented deeper than
    ``deeper_than`` columns: those were written about the nested content, not what follows.
    """
    holder, holder_key, index = _trailing_slot(container, key)
    entry = holder.ca.items.get(holder_key)
    token = entry[index] if entry else None
    if token is None:
        return ""
    head, _, rest = token.value.partition("\n")
    lines = rest.splitlines(keepends=True)
    keep = 0
    if deeper_than is not None:
        while keep < len(lines) and _comment_column(lines[keep]) > deeper_than:
            keep += 1
    kept = head + "\n" + "".join(lines[:keep])
    if kept.strip():
        token.value = kept
    else:
        entry[index] = None
    return "".join(lines[keep:])


def _comment_column(line: str) -> int:
    """Column of the ``#`` of a comment line; -1 for a blank line."""
    text = line.lstrip(" ")
    return len(line) - len(text) if text.startswith("#") else -1


def _attach_tail(container: Any, key: Any, tail: str) -> None:
    """Put comment lines after the last line of ``container[key]``."""
    if not tail:
        return
    holder, holder_key, index = _trailing_slot(container, key)
    entry = holder.ca.items.setdefault(holder_key, [None, None, None, None])
    token = entry[index]
    if token is None:
        entry[index] = _token("\n" + tail, 0)
    else:
        token.value = token.value + tail


def _token(text: str, column: int) -> CommentToken:
    return CommentToken(text, CommentMark(column))


def _is_block(value: Any) -> bool:
    """A non-empty collection written over several lines (comments after it sit inside it)."""
    return (
        isinstance(value, (CommentedMap, CommentedSeq))
        and bool(value)
        and not (value.fa.flow_style())
    )


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _item_model(annotation: Any) -> type[BaseModel] | None:
    args = get_args(annotation)
    item = unwrap_annotation(args[0]) if args else None
    return item if _is_model(item) else None


def _same_scalar(old: Any, new: Any) -> bool:
    """Whether the document already holds ``new``, so its spelling (10 vs 10.0) can stay."""
    if isinstance(old, (dict, list)) or isinstance(new, (dict, list)):
        return False
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    if old is None or new is None:
        return old is None and new is None
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return old == new
    return isinstance(old, str) and isinstance(new, str) and str(old) == new

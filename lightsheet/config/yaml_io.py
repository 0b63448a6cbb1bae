"""Reading and writing rig configs: validated loads, and round-trip documents that keep comments.

Every problem becomes a ConfigError whose lines name the file, the line and the key, so that
``lightsheet config check`` and the GUI editor report exactly where the operator must look.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from lightsheet.config.errors import ConfigError
from lightsheet.config.models import RigConfig
from lightsheet.config.pydantic_issues import issues_from_validation_error, show_value
from lightsheet.config.yaml_format import new_yaml, to_text
from lightsheet.config.yaml_render import default_config_text

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def load_config(path: PathLike) -> RigConfig:
    """Read and validate a config file."""
    return parse_config_text(read_text(path), source=str(path))


def parse_config_text(text: str, source: str = "<text>") -> RigConfig:
    """Validate config text; ``source`` names it in error messages (the GUI passes the file)."""
    document = parse_document_text(text, source)
    try:
        return RigConfig.model_validate(to_plain(document))
    except ValidationError as exc:
        raise ConfigError(
            issues_from_validation_error(exc, source, document=document, model=RigConfig)
        ) from None


def load_document(path: PathLike) -> CommentedMap:
    """The file as a round-trip mapping for editing; not validated (use load_config for that)."""
    return parse_document_text(read_text(path), str(path))


def parse_document_text(text: str, source: str = "<text>") -> CommentedMap:
    """Text as a round-trip mapping; an empty text is an empty mapping (the default config)."""
    try:
        document = new_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and problem.startswith("but "):  # "but found another document"
            problem = f"{exc.context}, {problem}"
        raise ConfigError.about_file(source, f"YAML syntax error: {problem}", line) from None
    except ReaderError as exc:  # a control character: no mark, but a position in the text
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError.about_file(source, f"YAML syntax error: {exc.reason}", line) from None
    except YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError.about_file(source, f"YAML syntax error: {first_line}") from None
    if document is None:
        return CommentedMap()
    if not isinstance(document, CommentedMap):
        raise ConfigError.about_file(
            source, f"expected a mapping of keys at the top level (got {show_value(document)})"
        )
    return document


def save_document(document: CommentedMap, path: PathLike) -> None:
    """Write a round-trip document, replacing the file atomically so a crash never truncates it."""
    write_text(path, document_text(document))


def document_text(document: CommentedMap) -> str:
    """YAML text of a round-trip document, with its comments."""
    return to_text(document)


def init_config(path: PathLike) -> None:
    """Write the annotated default config to a new file; an existing file is never overwritten."""
    source = str(path)
    try:
        with open(path, "x", encoding="utf-8") as stream:
            stream.write(default_config_text())
    except FileExistsError:
        raise ConfigError.about_file(
            source, "already exists; not overwritten (choose another name or delete it)"
        ) from None
    except OSError as exc:
        raise ConfigError.about_file(source, f"cannot write file: {_reason(exc)}") from None
    log.info("wrote the default config to %s", path)


def read_text(path: PathLike) -> str:
    """The file's text, with every way of failing turned into a one-line ConfigError."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.about_file(source, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError.about_file(
            source, f"cannot read file: not UTF-8 text (byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError.about_file(source, f"cannot read file: {_reason(exc)}") from None


def write_text(path: PathLike, text: str) -> None:
    """Write a config; an existing file is replaced atomically, keeping its permissions."""
    target = Path(path)
    source = str(path)
    try:
        if not target.exists():
            target.write_text(text, encoding="utf-8")
        else:
            _replace_atomically(target.resolve(), text)
    except OSError as exc:
        raise ConfigError.about_file(source, f"cannot write file: {_reason(exc)}") from None
    log.info("wrote config %s", target)


def _replace_atomically(target: Path, text: str) -> None:
    # Through a temporary file in the same folder and a rename: a crash never truncates the file.
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def to_plain(node: Any) -> Any:
    """Round-trip nodes as plain dicts, lists and scalars, so validation sees ordinary types."""
    if isinstance(node, dict):
        # Keys as text: `1: x` is then reported as an unknown key, like any other typo.
        return {str(to_plain(key)): to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    if isinstance(node, (bool, ScalarBoolean)):  # an anchored boolean is an int subclass
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _reason(exc: OSError) -> str:
    text = (exc.strerror or str(exc)).rstrip(".")
    return text[:1].lower() + text[1:]

"""Config problems as ``FILE:LINE: key.path: message`` lines an operator can act on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one config file; ``line`` and ``key_path`` are left out when unknown."""

    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.key_path:
            parts.append(self.key_path)
        parts.append(self.message)
        return one_line(": ".join(parts))


def one_line(text: str) -> str:
    """``text`` with every character that is not printable escaped (``\\n``, ``\\x1e``): a key
    or value from the file can never break the one-line-per-issue form."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class ConfigError(Exception):
    """A config that cannot be used; ``str()`` gives one line per issue, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        if not self.issues:
            raise ValueError("a ConfigError needs at least one issue")
        # The single positional argument keeps the exception picklable across processes.
        super().__init__(tuple(self.issues))

    @classmethod
    def about_file(cls, file: str, message: str, line: int | None = None) -> ConfigError:
        """A problem with the file as a whole (missing, unreadable, not YAML) rather than a key."""
        return cls([ConfigIssue(file=file, line=line, key_path="", message=message)])

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)

"""The configuration error and the key paths it names."""

from __future__ import annotations

KeyPath = tuple[str | int, ...]
"""A key path in a config document: mapping keys and list indexes."""


class ConfigError(Exception):
    """A configuration problem at ``file:line`` under the dotted ``key`` path."""

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        super().__init__(file, line, key, message)
        self.file = file
        self.line = line
        self.key = key
        self.message = message

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key or '(top level)'}: {self.message}"


def dotted(path: KeyPath) -> str:
    """``("a", "b", 0, "c")`` as ``a.b[0].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def kind_of(value: object) -> str:
    """The kind of a parsed value as an error message says it (``a mapping``, ``null``)."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return names.get(type(value), type(value).__name__)

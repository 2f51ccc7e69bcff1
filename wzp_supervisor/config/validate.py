"""Reading raw config data: typed value parsers and one generic reader of dataclass sections.

A parser is ``parse(ctx, value, path) -> typed value`` and raises a :class:`ConfigError` at the
line of ``path``. A dataclass declares the parser of each field in its metadata (``parsed``);
:func:`read_fields` reads a mapping against those declarations, so a field is written once.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from wzp_supervisor.config.errors import ConfigError, KeyPath, dotted, kind_of
from wzp_supervisor.layouts import validate_name

_T = TypeVar("_T")


@dataclass
class Ctx:
    """Where the data came from: the document's source and the line of each key path."""

    source: str
    lines: Mapping[KeyPath, tuple[str, int | None]]

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A ConfigError at the nearest recorded line of ``path`` or its parents."""
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.lines:
                file, line = self.lines[path[:depth]]
                return ConfigError(file, line, dotted(path), message)
        return ConfigError(self.source, None, dotted(path), message)


Parser = Callable[[Ctx, Any, KeyPath], _T]


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``known``, or an empty string."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class Section:
    """A mapping being read: refuses unknown keys, reads each key with a parser."""

    def __init__(self, ctx: Ctx, value: object, path: KeyPath, known: Sequence[str]) -> None:
        self.ctx = ctx
        self.path = path
        self.data = mapping(ctx, value, path)
        for key in self.data:
            if key not in known:
                hint = did_you_mean(key, known) or f" (known keys: {', '.join(known)})"
                raise ctx.error((*path, key), f"unknown key{hint}")

    def get(self, key: str, parse: Parser[_T], default: _T) -> _T:
        """The parsed value of ``key``; ``default`` when absent (or null where None is allowed)."""
        value = self.data.get(key)
        if key not in self.data or (value is None and default is None):
            return default
        return parse(self.ctx, value, (*self.path, key))

    def require(self, key: str, parse: Parser[_T]) -> _T:
        """The parsed value of a required ``key``."""
        if key not in self.data:
            raise self.ctx.error((*self.path, key), "required key is missing")
        return parse(self.ctx, self.data[key], (*self.path, key))


# --------------------------------------------------------------------------- field declarations


def parsed(
    parse: Parser[Any] | None = None,
    *,
    key: str | None = None,
    aliases: Sequence[str] = (),
    dump: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Field metadata: read the field with ``parse`` (None: its section reads it by hand).

    ``key`` is the name in the file when it differs from the field's; ``aliases`` are other
    accepted names for it (the dump writes ``key``). ``dump`` turns the field's value back
    into the file's form when they differ (a unit, say).
    """
    return {"parse": parse, "key": key, "aliases": tuple(aliases), "dump": dump}


INTERNAL: dict[str, Any] = {"internal": True}
"""Field metadata: not a key of the file (filled in by the reader, e.g. a template's name)."""


def file_key(f: Field[Any]) -> str:
    """The name of field ``f`` in the file."""
    return f.metadata.get("key") or f.name


def file_keys(cls: type) -> list[str]:
    """Every key a section of dataclass ``cls`` accepts, aliases included, in field order."""
    keys: list[str] = []
    for f in fields(cls):
        if not f.metadata.get("internal"):
            keys += [file_key(f), *f.metadata.get("aliases", ())]
    return keys


def field_default(f: Field[Any]) -> Any:
    """The default value of a dataclass field; MISSING when it has none."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def read_fields(
    cls: type, ctx: Ctx, value: object, path: KeyPath
) -> tuple[Section, dict[str, Any]]:
    """Read the mapping ``value`` as a section of dataclass ``cls``.

    Returns the section and the parsed value of every field that declares a parser and is set
    in the file (under its key or one alias; giving both is an error). Fields without a parser
    are left to the caller, which finds the raw data in ``section.data``.
    """
    section = Section(ctx, value, path, file_keys(cls))
    out: dict[str, Any] = {}
    for f in fields(cls):
        parse: Parser[Any] | None = f.metadata.get("parse")
        if parse is None:
            continue
        names = [file_key(f), *f.metadata.get("aliases", ())]
        given = [name for name in names if name in section.data]
        if len(given) > 1:
            raise ctx.error(
                (*path, given[1]),
                f"{given[1]!r} and {given[0]!r} are the same setting; keep one",
            )
        if given:
            default = field_default(f)
            out[f.name] = section.get(given[0], parse, None if default is MISSING else default)
    return section, out


def read(cls: type[_T], ctx: Ctx, value: object, path: KeyPath) -> _T:
    """An instance of dataclass ``cls`` read from ``value``; unset fields keep their defaults."""
    return cls(**read_fields(cls, ctx, value, path)[1])


def reader(cls: type[_T]) -> Parser[_T]:
    """:func:`read` for ``cls`` as a parser (for a field that is itself a section)."""

    def parse(ctx: Ctx, value: object, path: KeyPath) -> _T:
        return read(cls, ctx, value, path)

    return parse


# --------------------------------------------------------------------------- value parsers


def mapping(ctx: Ctx, value: object, path: KeyPath) -> dict[str, Any]:
    """A mapping with string keys; null is an empty mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.error(path, f"must be a mapping, not {kind_of(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ctx.error(path, f"key {key!r} must be a string (quote it)")
    return value


def type_error(ctx: Ctx, path: KeyPath, want: str, value: object) -> ConfigError:
    """``must be WANT, not KIND`` at ``path``."""
    return ctx.error(path, f"must be {want}, not {kind_of(value)}")


def boolean(ctx: Ctx, value: object, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise type_error(ctx, path, "true or false", value)
    return value


def string(ctx: Ctx, value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise type_error(ctx, path, "a string", value)
    return value


def abs_dir(ctx: Ctx, value: object, path: KeyPath) -> Path:
    """A directory path: ``~`` expanded, and absolute after that."""
    expanded = Path(os.path.expanduser(string(ctx, value, path)))
    if not expanded.is_absolute():
        raise ctx.error(path, f"must be an absolute path (or start with ~), not {value!r}")
    return expanded


def text(ctx: Ctx, value: object, path: KeyPath) -> str:
    """A free-text string; plain numbers (``version: 1.0``, ``PORT: 3000``) are taken as text."""
    if isinstance(value, bool):
        raise ctx.error(path, f"must be a string, not a boolean (quote it: '{str(value).lower()}')")
    if isinstance(value, int | float):
        return str(value)
    return string(ctx, value, path)


def integer(lo: int, hi: int) -> Parser[int]:
    """An integer in ``lo..hi``."""

    def parse(ctx: Ctx, value: object, path: KeyPath) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise type_error(ctx, path, "an integer", value)
        if not lo <= value <= hi:
            raise ctx.error(path, f"must be between {lo} and {hi}, not {value}")
        return value

    return parse


def number(lo: float, hi: float, *, positive: bool = False, unit: str = "") -> Parser[float]:
    """A number in ``lo..hi`` (greater than 0 with ``positive``); ``unit`` is named in errors."""
    suffix = f" {unit}" if unit else ""

    def parse(ctx: Ctx, value: object, path: KeyPath) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise type_error(ctx, path, "a number", value)
        if positive and value <= 0:
            raise ctx.error(path, f"must be greater than 0, not {value}")
        if not lo <= value <= hi:
            raise ctx.error(path, f"must be between {lo:g} and {hi:g}{suffix}, not {value}")
        return float(value)

    return parse


def millis_as_seconds(lo: int, hi: int) -> Parser[float]:
    """A duration written in milliseconds (``lo..hi``), read as seconds."""
    check = number(lo, hi, positive=True, unit="milliseconds")

    def parse(ctx: Ctx, value: object, path: KeyPath) -> float:
        return check(ctx, value, path) / 1000

    return parse


def seconds_as_millis(seconds: float) -> int | float:
    """The file form of a duration read by :func:`millis_as_seconds`."""
    millis = round(seconds * 1000, 3)
    return int(millis) if millis.is_integer() else millis


def choice(choices: Sequence[str], what: str = "value", where: str = "") -> Parser[Any]:
    """One of ``choices``; the error reads "unknown WHAT 'word'WHERE; did you mean ...?"."""

    def parse(ctx: Ctx, value: object, path: KeyPath) -> str:
        word = string(ctx, value, path)
        if word not in choices:
            hint = did_you_mean(word, choices) or f" (one of {', '.join(choices)})"
            raise ctx.error(path, f"unknown {what} {word!r}{where}{hint}")
        return word

    return parse


def name(kind: str) -> Parser[str]:
    """A workspace, pane or template name (``layouts.validate_name``)."""

    def parse(ctx: Ctx, value: object, path: KeyPath) -> str:
        try:
            return validate_name(kind, value)
        except ValueError as exc:
            raise ctx.error(path, str(exc)) from None

    return parse


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_name(ctx: Ctx, value: object, path: KeyPath) -> str:
    var = string(ctx, value, path)
    if not _ENV_NAME_RE.match(var):
        raise ctx.error(path, f"{var!r} is not a valid environment variable name")
    return var


def environment(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, str]:
    """NAME: value; numbers are taken as their text, ``${VAR}`` is kept for spawn time."""
    out: dict[str, str] = {}
    for key, item in mapping(ctx, value, path).items():
        env_name(ctx, key, (*path, key))
        out[key] = text(ctx, item, (*path, key))
    return MappingProxyType(out)


def env_names(ctx: Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise type_error(ctx, path, "a list of variable names", value)
    return tuple(env_name(ctx, item, (*path, i)) for i, item in enumerate(value))


def argv(ctx: Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    """A command: a list of strings, or one string split like a shell would."""
    if isinstance(value, str):
        try:
            words = tuple(shlex.split(value))
        except ValueError as exc:
            raise ctx.error(path, f"cannot split the command: {exc}") from None
    elif isinstance(value, list):
        words = tuple(string(ctx, item, (*path, i)) for i, item in enumerate(value))
    else:
        raise type_error(ctx, path, "a string or a list of strings", value)
    if not words or not words[0]:
        raise ctx.error(path, "the command is empty")
    return words


def shell_command(ctx: Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    """With ``shell: true`` the command is one string for ``sh -c``."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise type_error(ctx, path, "one string (shell: true runs it with sh -c)", value)
    if not value.strip():
        raise ctx.error(path, "the command is empty")
    return (value,)


def str_map(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, str]:
    """A mapping of strings to strings."""
    return MappingProxyType(
        {key: string(ctx, item, (*path, key)) for key, item in mapping(ctx, value, path).items()}
    )


def keyed(known: Sequence[str], parse: Parser[_T]) -> Parser[Mapping[str, _T]]:
    """A mapping whose keys are some of ``known`` and whose values ``parse`` reads."""

    def parse_map(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, _T]:
        section = Section(ctx, value, path, known)
        return MappingProxyType(
            {key: parse(ctx, item, (*path, key)) for key, item in section.data.items()}
        )

    return parse_map

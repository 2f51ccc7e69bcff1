"""Located parsing: YAML or TOML text → raw data plus the ``file:line`` of every key path.

Also the merge of a user document over the built-in one, which keeps each key attributed to
the file that wrote it, so an error in a value the user wrote never points into the built-in
file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from wzp_supervisor.config.errors import ConfigError, KeyPath, dotted, kind_of

ConfigFormat = Literal["yaml", "toml", "json"]
Lines = dict[KeyPath, tuple[str, int | None]]


@dataclass
class Document:
    """Parsed raw data plus the (file, line) where each key path was written."""

    source: str
    data: dict[str, Any]
    lines: Lines


def parse_yaml(text: str, source: str) -> Document:
    """Parse YAML (and so JSON) text; refuses duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: Lines = {}
        if node is not None:
            _yaml_lines(node, (), source, lines)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(source, line, "", f"YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, "", f"YAML error: {exc}") from exc
    finally:
        loader.dispose()
    return Document(source, _top_mapping(data, source), lines)


def _yaml_lines(node: yaml.Node, path: KeyPath, source: str, lines: Lines) -> None:
    """Record the line of every mapping key and sequence item; refuse duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            sub = (*path, str(key_node.value))
            line = key_node.start_mark.line + 1
            if sub in lines:
                first = lines[sub][1]
                raise ConfigError(
                    source, line, dotted(sub), f"duplicate key (first on line {first})"
                )
            lines[sub] = (source, line)
            _yaml_lines(value_node, sub, source, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = (source, item.start_mark.line + 1)
            _yaml_lines(item, (*path, index), source, lines)


_TOML_LINE_RE = re.compile(r"line (\d+)")
_TOML_HEADER_RE = re.compile(r"^\s*(\[\[?)([^\[\]]+)\]\]?\s*(#.*)?$")
_TOML_KEY_RE = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_TOML_KEY_PART_RE = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)")


def _toml_key(text: str) -> tuple[str, ...]:
    return tuple(a or b or c for a, b, c in _TOML_KEY_PART_RE.findall(text))


def parse_toml(text: str, source: str) -> Document:
    """Parse TOML text; key lines are found by scanning headers and ``key =`` lines."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE_RE.search(str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at .*\)$", "", str(exc))
        raise ConfigError(source, line, "", f"TOML syntax error: {message}") from exc
    return Document(source, _top_mapping(data, source), _toml_lines(text, source))


def _toml_lines(text: str, source: str) -> Lines:
    """Best-effort line of each key: tracks ``[table]`` / ``[[array]]`` headers and ``k =``."""
    lines: Lines = {}
    arrays: dict[KeyPath, int] = {}
    table: KeyPath = ()
    for number, raw in enumerate(text.splitlines(), 1):
        header = _TOML_HEADER_RE.match(raw)
        if header:
            table = ()
            *parents, last = _toml_key(header.group(2))
            for part in parents:  # a table under an array of tables is in its last element
                table = (*table, part)
                if table in arrays:
                    table = (*table, arrays[table])
            table = (*table, last)
            if header.group(1) == "[[":
                arrays[table] = arrays.get(table, -1) + 1
                lines.setdefault(table, (source, number))
                table = (*table, arrays[table])
            lines.setdefault(table, (source, number))
            continue
        key = _TOML_KEY_RE.match(raw)
        if key:
            lines.setdefault((*table, *_toml_key(key.group(1))), (source, number))
    return lines


def _top_mapping(data: object, source: str) -> dict[str, Any]:
    """The document's top-level mapping; an empty or comments-only file is an empty mapping."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(source, 1, "", f"the top level must be a mapping, not {kind_of(data)}")
    return data


def parse(text: str, source: str, fmt: ConfigFormat) -> Document:
    """Parse ``text`` in ``fmt`` (json is read as YAML, of which it is a subset)."""
    return parse_toml(text, source) if fmt == "toml" else parse_yaml(text, source)


def _is_template_path(path: KeyPath) -> bool:
    return len(path) == 3 and path[:2] == ("workspaces", "templates")


def nearest_line(lines: Mapping[KeyPath, tuple[str, int | None]], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest parent that has one."""
    for depth in range(len(path), -1, -1):
        if path[:depth] in lines:
            return lines[path[:depth]][1]
    return None


def merge(base: Document, over: Document) -> Document:
    """``over`` merged over ``base``: mappings key by key, templates and other values replaced.

    Every key ``over`` sets is attributed to ``over``'s file (at its nearest known line), so an
    error in a value the user wrote never points into the built-in file. An empty section in
    ``over`` (all commented out) keeps the defaults.
    """
    replaced: list[KeyPath] = []
    over_lines = dict(over.lines)

    def merge_into(low: dict[str, Any], high: dict[str, Any], path: KeyPath) -> dict[str, Any]:
        out = dict(low)
        for key, value in high.items():
            sub = (*path, key)
            over_lines.setdefault(sub, (over.source, nearest_line(over.lines, sub)))
            if isinstance(out.get(key), dict) and value is None:
                continue
            mergeable = isinstance(out.get(key), dict) and isinstance(value, dict)
            if mergeable and not _is_template_path(sub):
                out[key] = merge_into(out[key], value, sub)
                continue
            if key in out:
                replaced.append(sub)
            out[key] = value
        return out

    data = merge_into(base.data, over.data, ())
    lines = {
        path: where
        for path, where in base.lines.items()
        if not any(path[: len(prefix)] == prefix for prefix in replaced)
    }
    lines.update(over_lines)
    return Document(over.source, data, lines)

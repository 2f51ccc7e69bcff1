"""The configuration: YAML (or TOML) → typed, validated, immutable :class:`Config`.

The built-in ``wzp_supervisor/data/config.yaml`` holds every default and documents the format.
A user file (``paths.config_candidates()``) is merged over it: sections merge key by key, a
user template replaces the built-in template of the same name. Every problem is reported as a
:class:`ConfigError` naming the file, the line and the dotted key path.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar, get_args

import tomli_w
import yaml

from wzp_supervisor import paths
from wzp_supervisor.templates import LAYOUTS, layout_slots, validate_name

RestartPolicy = Literal["always", "on-failure", "never"]
AgentKind = Literal["claude", "none"]
Isolation = Literal["none", "worktree"]
ConfigFormat = Literal["yaml", "toml", "json"]

RESTART_POLICIES: tuple[str, ...] = get_args(RestartPolicy)
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)
ISOLATIONS: tuple[str, ...] = get_args(Isolation)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
RLIMIT_NAMES = ("nofile", "nproc", "as")
KEYBINDING_ACTIONS = (
    "create_workspace",
    "switch_workspace",
    "kill_process",
    "show_dashboard",
    "jump_to_waiting",
)
KEY_MODIFIERS = ("ctrl", "shift", "alt", "opt", "meta", "super", "cmd", "win", "leader")
BUILTIN_SOURCE = "<built-in config.yaml>"

_T = TypeVar("_T")
KeyPath = tuple[str | int, ...]


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


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


# --------------------------------------------------------------------------- config objects


@dataclass(frozen=True)
class FrameworkConfig:
    """``framework``: identity and global limits."""

    name: str = "wezterm-parallel"
    version: str | None = None
    max_workspaces: int = 8
    log_level: str = "info"


@dataclass(frozen=True)
class ProcessDefaults:
    """``processes.claude_code``: how agents run, and the restart defaults of every pane."""

    command: tuple[str, ...] = ("claude",)
    max_instances: int = 16
    restart_policy: RestartPolicy = "always"
    min_uptime: float = 10.0
    max_retries: int = 5
    backoff_max: float = 60.0
    health_check_interval: float = 30.0
    timeout: float = 10.0
    environment: Mapping[str, str] = field(default_factory=_empty)
    env_passthrough: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaneTemplate:
    """One pane of a workspace template."""

    name: str
    position: str
    command: tuple[str, ...] | None = None
    agent: AgentKind = "claude"
    supervised: bool = True
    shell: bool = False
    restart_policy: RestartPolicy | None = None
    min_uptime: float | None = None
    max_retries: int | None = None
    backoff_max: float | None = None
    environment: Mapping[str, str] = field(default_factory=_empty)
    cwd: str | None = None


@dataclass(frozen=True)
class WorkspaceTemplate:
    """``workspaces.templates.NAME``: a layout and its panes."""

    name: str
    layout: str
    panes: tuple[PaneTemplate, ...]
    description: str = ""
    auto_start: bool = True
    isolation: Isolation = "none"
    notify: bool = True
    rlimits: Mapping[str, int] = field(default_factory=_empty)


@dataclass(frozen=True)
class CommunicationConfig:
    """``communication``: the hub socket."""

    socket_path: str | None = None
    message_timeout: float = 30.0
    max_message_bytes: int = 1_048_576


@dataclass(frozen=True)
class UiConfig:
    """``ui``: what the WezTerm plugin shows and the keys it binds."""

    theme: Mapping[str, str] = field(default_factory=_empty)
    status_bar: Mapping[str, bool | float] = field(default_factory=_empty)
    keybindings: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class MetricsConfig:
    """``metrics``: the optional Prometheus endpoint."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class NotificationsConfig:
    """``notifications``: desktop notifications when an agent waits for input."""

    enabled: bool = True
    command: tuple[str, ...] | None = None
    min_interval: float = 30.0


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; ``path`` is None for the built-in one."""

    path: Path | None = None
    framework: FrameworkConfig = field(default_factory=FrameworkConfig)
    templates: Mapping[str, WorkspaceTemplate] = field(default_factory=_empty)
    default_template: str = "default"
    worktree_root: Path | None = None
    processes: ProcessDefaults = field(default_factory=ProcessDefaults)
    communication: CommunicationConfig = field(default_factory=CommunicationConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)


# --------------------------------------------------------------------------- documents


@dataclass
class _Doc:
    """Parsed raw data plus the (file, line) where each key path was written."""

    source: str
    data: dict[str, Any]
    lines: dict[KeyPath, tuple[str, int | None]]


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _parse_yaml(text: str, source: str) -> _Doc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, tuple[str, int | None]] = {}
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
    return _Doc(source, _top_mapping(data, source), lines)


def _yaml_lines(
    node: yaml.Node, path: KeyPath, source: str, lines: dict[KeyPath, tuple[str, int | None]]
) -> None:
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
                    source, line, _dotted(sub), f"duplicate key (first on line {first})"
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


def _parse_toml(text: str, source: str) -> _Doc:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE_RE.search(str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at .*\)$", "", str(exc))
        raise ConfigError(source, line, "", f"TOML syntax error: {message}") from exc
    return _Doc(source, _top_mapping(data, source), _toml_lines(text, source))


def _toml_lines(text: str, source: str) -> dict[KeyPath, tuple[str, int | None]]:
    """Best-effort line of each key: tracks ``[table]`` / ``[[array]]`` headers and ``k =``."""
    lines: dict[KeyPath, tuple[str, int | None]] = {}
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
    if data is None or data == {}:
        raise ConfigError(source, 1, "", "the file is empty (no settings)")
    if not isinstance(data, dict):
        raise ConfigError(source, 1, "", f"the top level must be a mapping, not {_kind(data)}")
    return data


def _parse(text: str, source: str, fmt: ConfigFormat) -> _Doc:
    return _parse_toml(text, source) if fmt == "toml" else _parse_yaml(text, source)


def _is_template_path(path: KeyPath) -> bool:
    return len(path) == 3 and path[:2] == ("workspaces", "templates")


def _nearest(lines: Mapping[KeyPath, tuple[str, int | None]], path: KeyPath) -> int | None:
    for depth in range(len(path), -1, -1):
        if path[:depth] in lines:
            return lines[path[:depth]][1]
    return None


def _merge(base: _Doc, over: _Doc) -> _Doc:
    """``over`` merged over ``base``: mappings key by key, templates and other values replaced.

    Every key ``over`` sets is attributed to ``over``'s file (at its nearest known line), so an
    error in a value the user wrote never points into the built-in file.
    """
    replaced: list[KeyPath] = []
    over_lines = dict(over.lines)

    def merge(low: dict[str, Any], high: dict[str, Any], path: KeyPath) -> dict[str, Any]:
        out = dict(low)
        for key, value in high.items():
            sub = (*path, key)
            over_lines.setdefault(sub, (over.source, _nearest(over.lines, sub)))
            if isinstance(out.get(key), dict) and value is None:
                continue  # an empty section (all commented out) keeps the defaults
            mergeable = isinstance(out.get(key), dict) and isinstance(value, dict)
            if mergeable and not _is_template_path(sub):
                out[key] = merge(out[key], value, sub)
                continue
            if key in out:
                replaced.append(sub)
            out[key] = value
        return out

    data = merge(base.data, over.data, ())
    lines = {
        path: where
        for path, where in base.lines.items()
        if not any(path[: len(prefix)] == prefix for prefix in replaced)
    }
    lines.update(over_lines)
    return _Doc(over.source, data, lines)


# --------------------------------------------------------------------------- validation


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return names.get(type(value), type(value).__name__)


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass
class _Ctx:
    source: str
    lines: Mapping[KeyPath, tuple[str, int | None]]

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A ConfigError at the nearest recorded line of ``path`` or its parents."""
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.lines:
                file, line = self.lines[path[:depth]]
                return ConfigError(file, line, _dotted(path), message)
        return ConfigError(self.source, None, _dotted(path), message)


class _Section:
    """A mapping being read: refuses unknown keys, reads each field with a parser."""

    def __init__(self, ctx: _Ctx, value: object, path: KeyPath, known: Sequence[str]) -> None:
        self.ctx = ctx
        self.path = path
        self.data = _mapping(ctx, value, path)
        for key in self.data:
            if key not in known:
                hint = _did_you_mean(key, known) or f" (known keys: {', '.join(known)})"
                raise ctx.error((*path, key), f"unknown key{hint}")

    def get(self, key: str, parse: Callable[[_Ctx, Any, KeyPath], _T], default: _T) -> _T:
        """The parsed value of ``key``; ``default`` when absent (or null where None is allowed)."""
        value = self.data.get(key)
        if key not in self.data or (value is None and default is None):
            return default
        return parse(self.ctx, value, (*self.path, key))

    def require(self, key: str, parse: Callable[[_Ctx, Any, KeyPath], _T]) -> _T:
        """The parsed value of a required ``key``."""
        if key not in self.data:
            raise self.ctx.error((*self.path, key), "required key is missing")
        return parse(self.ctx, self.data[key], (*self.path, key))


def _mapping(ctx: _Ctx, value: object, path: KeyPath) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.error(path, f"must be a mapping, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ctx.error(path, f"key {key!r} must be a string (quote it)")
    return value


def _type_error(ctx: _Ctx, path: KeyPath, want: str, value: object) -> ConfigError:
    return ctx.error(path, f"must be {want}, not {_kind(value)}")


def _bool(ctx: _Ctx, value: object, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise _type_error(ctx, path, "true or false", value)
    return value


def _str(ctx: _Ctx, value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise _type_error(ctx, path, "a string", value)
    return value


def _abs_dir(ctx: _Ctx, value: object, path: KeyPath) -> Path:
    """A directory path: ``~`` expanded, and absolute after that."""
    expanded = Path(os.path.expanduser(_str(ctx, value, path)))
    if not expanded.is_absolute():
        raise ctx.error(path, f"must be an absolute path (or start with ~), not {value!r}")
    return expanded


def _text(ctx: _Ctx, value: object, path: KeyPath) -> str:
    """A free-text string; plain numbers (``version: 1.0``, ``PORT: 3000``) are taken as text."""
    if isinstance(value, bool):
        raise ctx.error(path, f"must be a string, not a boolean (quote it: '{str(value).lower()}')")
    if isinstance(value, int | float):
        return str(value)
    return _str(ctx, value, path)


def _int(lo: int, hi: int) -> Callable[[_Ctx, Any, KeyPath], int]:
    def parse(ctx: _Ctx, value: object, path: KeyPath) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(ctx, path, "an integer", value)
        if not lo <= value <= hi:
            raise ctx.error(path, f"must be between {lo} and {hi}, not {value}")
        return value

    return parse


def _float(
    lo: float, hi: float, *, positive: bool = False
) -> Callable[[_Ctx, Any, KeyPath], float]:
    def parse(ctx: _Ctx, value: object, path: KeyPath) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(ctx, path, "a number", value)
        if positive and value <= 0:
            raise ctx.error(path, f"must be greater than 0, not {value}")
        if not lo <= value <= hi:
            raise ctx.error(path, f"must be between {lo:g} and {hi:g}, not {value}")
        return float(value)

    return parse


def _choice(
    choices: Sequence[str], what: str = "value", where: str = ""
) -> Callable[[_Ctx, Any, KeyPath], Any]:
    """One of ``choices``; the error reads "unknown WHAT 'word'WHERE; did you mean ...?"."""

    def parse(ctx: _Ctx, value: object, path: KeyPath) -> str:
        word = _str(ctx, value, path)
        if word not in choices:
            hint = _did_you_mean(word, choices) or f" (one of {', '.join(choices)})"
            raise ctx.error(path, f"unknown {what} {word!r}{where}{hint}")
        return word

    return parse


def _name(kind: str) -> Callable[[_Ctx, Any, KeyPath], str]:
    def parse(ctx: _Ctx, value: object, path: KeyPath) -> str:
        try:
            return validate_name(kind, value)
        except ValueError as exc:
            raise ctx.error(path, str(exc)) from None

    return parse


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(ctx: _Ctx, value: object, path: KeyPath) -> str:
    name = _str(ctx, value, path)
    if not _ENV_NAME_RE.match(name):
        raise ctx.error(path, f"{name!r} is not a valid environment variable name")
    return name


def _environment(ctx: _Ctx, value: object, path: KeyPath) -> Mapping[str, str]:
    """NAME: value; numbers are taken as their text, ``${VAR}`` is kept for spawn time."""
    out: dict[str, str] = {}
    for key, item in _mapping(ctx, value, path).items():
        _env_name(ctx, key, (*path, key))
        out[key] = _text(ctx, item, (*path, key))
    return MappingProxyType(out)


def _env_names(ctx: _Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _type_error(ctx, path, "a list of variable names", value)
    return tuple(_env_name(ctx, item, (*path, i)) for i, item in enumerate(value))


def _argv(ctx: _Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    """A command: a list of strings, or one string split like a shell would."""
    if isinstance(value, str):
        try:
            argv = tuple(shlex.split(value))
        except ValueError as exc:
            raise ctx.error(path, f"cannot split the command: {exc}") from None
    elif isinstance(value, list):
        argv = tuple(_str(ctx, item, (*path, i)) for i, item in enumerate(value))
    else:
        raise _type_error(ctx, path, "a string or a list of strings", value)
    if not argv or not argv[0]:
        raise ctx.error(path, "the command is empty")
    return argv


def _shell_command(ctx: _Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    """With ``shell: true`` the command is one string for ``sh -c``."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise _type_error(ctx, path, "one string (shell: true runs it with sh -c)", value)
    if not value.strip():
        raise ctx.error(path, "the command is empty")
    return (value,)


def _framework(ctx: _Ctx, value: object, path: KeyPath) -> FrameworkConfig:
    s = _Section(ctx, value, path, [f.name for f in fields(FrameworkConfig)])
    d = FrameworkConfig()
    return FrameworkConfig(
        name=s.get("name", _str, d.name),
        version=s.get("version", _text, d.version),
        max_workspaces=s.get("max_workspaces", _int(1, 1000), d.max_workspaces),
        log_level=s.get("log_level", _choice(LOG_LEVELS, "log level"), d.log_level),
    )


def _process_defaults(ctx: _Ctx, value: object, path: KeyPath) -> ProcessDefaults:
    s = _Section(ctx, value, path, [f.name for f in fields(ProcessDefaults)])
    d = ProcessDefaults()
    return ProcessDefaults(
        command=s.get("command", _argv, d.command),
        max_instances=s.get("max_instances", _int(1, 1000), d.max_instances),
        restart_policy=s.get(
            "restart_policy", _choice(RESTART_POLICIES, "restart policy"), d.restart_policy
        ),
        min_uptime=s.get("min_uptime", _float(0, 86400), d.min_uptime),
        max_retries=s.get("max_retries", _int(0, 1000), d.max_retries),
        backoff_max=s.get("backoff_max", _float(0, 86400, positive=True), d.backoff_max),
        health_check_interval=s.get(
            "health_check_interval", _float(0, 86400, positive=True), d.health_check_interval
        ),
        timeout=s.get("timeout", _float(0, 3600, positive=True), d.timeout),
        environment=s.get("environment", _environment, d.environment),
        env_passthrough=s.get("env_passthrough", _env_names, d.env_passthrough),
    )


def _processes(ctx: _Ctx, value: object, path: KeyPath) -> ProcessDefaults:
    s = _Section(ctx, value, path, ["claude_code"])
    return s.get("claude_code", _process_defaults, ProcessDefaults())


_PANE_KEYS = [f.name for f in fields(PaneTemplate)]


def _is_claude(argv: tuple[str, ...] | None, shell: bool) -> bool:
    if argv is None:
        return True
    words = argv
    if shell:
        try:
            words = tuple(shlex.split(argv[0]))
        except ValueError:
            return False
    return bool(words) and Path(words[0]).name == "claude"


def _pane(ctx: _Ctx, value: object, path: KeyPath, layout: str) -> PaneTemplate:
    slots = layout_slots(layout)
    s = _Section(ctx, value, path, _PANE_KEYS)
    shell = s.get("shell", _bool, False)
    command = s.get("command", _shell_command if shell else _argv, None)
    agent_default: AgentKind = "claude" if _is_claude(command, shell) else "none"
    return PaneTemplate(
        name=s.require("name", _name("pane")),
        position=s.get("position", _choice(slots, "position", f" for layout {layout}"), ""),
        command=command,
        agent=s.get("agent", _choice(AGENT_KINDS, "agent kind"), agent_default),
        supervised=s.get("supervised", _bool, True),
        shell=shell,
        restart_policy=s.get("restart_policy", _choice(RESTART_POLICIES, "restart policy"), None),
        min_uptime=s.get("min_uptime", _float(0, 86400), None),
        max_retries=s.get("max_retries", _int(0, 1000), None),
        backoff_max=s.get("backoff_max", _float(0, 86400, positive=True), None),
        environment=s.get("environment", _environment, _empty()),
        cwd=s.get("cwd", _str, None),
    )


def _panes(ctx: _Ctx, value: object, path: KeyPath, layout: str) -> tuple[PaneTemplate, ...]:
    """The panes of a template: at most one per slot, unique names, free slots filled in order."""
    slots = layout_slots(layout)
    if not isinstance(value, list):
        raise _type_error(ctx, path, "a list of panes", value)
    if not value:
        raise ctx.error(path, "a template needs at least one pane")
    if len(value) > len(slots):
        raise ctx.error(
            path,
            f"{len(value)} panes but layout {layout} has {len(slots)} slots ({', '.join(slots)})",
        )
    panes = [_pane(ctx, item, (*path, i), layout) for i, item in enumerate(value)]
    names: dict[str, int] = {}
    used: dict[str, int] = {}
    for i, pane in enumerate(panes):
        if pane.name in names:
            raise ctx.error(
                (*path, i, "name"),
                f"duplicate pane name {pane.name!r} (also panes[{names[pane.name]}])",
            )
        names[pane.name] = i
        if pane.position in used:
            raise ctx.error(
                (*path, i, "position"),
                f"position {pane.position!r} is already used by panes[{used[pane.position]}]",
            )
        if pane.position:
            used[pane.position] = i
    free = iter(slot for slot in slots if slot not in used)
    return tuple(pane if pane.position else replace(pane, position=next(free)) for pane in panes)


def _rlimits(ctx: _Ctx, value: object, path: KeyPath) -> Mapping[str, int]:
    s = _Section(ctx, value, path, RLIMIT_NAMES)
    return MappingProxyType({key: s.get(key, _int(1, 2**63 - 1), 0) for key in s.data})


def _template(ctx: _Ctx, name: str, value: object, path: KeyPath) -> WorkspaceTemplate:
    s = _Section(ctx, value, path, [f.name for f in fields(WorkspaceTemplate) if f.name != "name"])
    layout = s.require("layout", _choice(list(LAYOUTS), "layout"))
    return WorkspaceTemplate(
        name=name,
        layout=layout,
        panes=s.require("panes", lambda c, v, p: _panes(c, v, p, layout)),
        description=s.get("description", _str, ""),
        auto_start=s.get("auto_start", _bool, True),
        isolation=s.get("isolation", _choice(ISOLATIONS, "isolation"), "none"),
        notify=s.get("notify", _bool, True),
        rlimits=s.get("rlimits", _rlimits, _empty()),
    )


def _templates(ctx: _Ctx, value: object, path: KeyPath) -> Mapping[str, WorkspaceTemplate]:
    out = {}
    for name, item in _mapping(ctx, value, path).items():
        _name("template")(ctx, name, (*path, name))
        out[name] = _template(ctx, name, item, (*path, name))
    return MappingProxyType(out)


def _str_map(ctx: _Ctx, value: object, path: KeyPath) -> Mapping[str, str]:
    return MappingProxyType(
        {key: _str(ctx, item, (*path, key)) for key, item in _mapping(ctx, value, path).items()}
    )


def _status_bar(ctx: _Ctx, value: object, path: KeyPath) -> Mapping[str, bool | float]:
    s = _Section(ctx, value, path, ["enabled", "update_interval", "show_resources"])
    return MappingProxyType(
        {
            "enabled": s.get("enabled", _bool, True),
            "update_interval": s.get("update_interval", _float(0, 3600, positive=True), 1.0),
            "show_resources": s.get("show_resources", _bool, True),
        }
    )


def _key_chord(ctx: _Ctx, value: object, path: KeyPath) -> str:
    chord = _str(ctx, value, path)
    *mods, key = chord.lower().split("+")
    bad = [mod for mod in mods if mod not in KEY_MODIFIERS]
    if not key or bad:
        what = f"unknown modifier {bad[0]!r}" if bad else "no key"
        raise ctx.error(path, f"{chord!r} is not a key chord like 'ctrl+shift+n' ({what})")
    return chord


def _keybindings(ctx: _Ctx, value: object, path: KeyPath) -> Mapping[str, str]:
    s = _Section(ctx, value, path, KEYBINDING_ACTIONS)
    return MappingProxyType({key: s.get(key, _key_chord, "") for key in s.data})


def _ui(ctx: _Ctx, value: object, path: KeyPath) -> UiConfig:
    s = _Section(ctx, value, path, ["theme", "status_bar", "keybindings"])
    return UiConfig(
        theme=s.get("theme", _str_map, _empty()),
        status_bar=_status_bar(ctx, s.data.get("status_bar"), (*path, "status_bar")),
        keybindings=s.get("keybindings", _keybindings, _empty()),
    )


def _communication(ctx: _Ctx, value: object, path: KeyPath) -> CommunicationConfig:
    s = _Section(ctx, value, path, [f.name for f in fields(CommunicationConfig)])
    d = CommunicationConfig()
    return CommunicationConfig(
        socket_path=s.get("socket_path", _str, d.socket_path),
        message_timeout=s.get("message_timeout", _float(0, 3600, positive=True), d.message_timeout),
        max_message_bytes=s.get("max_message_bytes", _int(1024, 64 << 20), d.max_message_bytes),
    )


def _metrics(ctx: _Ctx, value: object, path: KeyPath) -> MetricsConfig:
    s = _Section(ctx, value, path, [f.name for f in fields(MetricsConfig)])
    d = MetricsConfig()
    return MetricsConfig(
        enabled=s.get("enabled", _bool, d.enabled),
        host=s.get("host", _str, d.host),
        port=s.get("port", _int(1, 65535), d.port),
    )


def _notifications(ctx: _Ctx, value: object, path: KeyPath) -> NotificationsConfig:
    s = _Section(ctx, value, path, [f.name for f in fields(NotificationsConfig)])
    d = NotificationsConfig()
    return NotificationsConfig(
        enabled=s.get("enabled", _bool, d.enabled),
        command=s.get("command", _argv, d.command),
        min_interval=s.get("min_interval", _float(0, 86400), d.min_interval),
    )


_SECTIONS = (
    "framework",
    "workspaces",
    "processes",
    "communication",
    "ui",
    "metrics",
    "notifications",
)


def _build(doc: _Doc, path: Path | None) -> Config:
    ctx = _Ctx(doc.source, doc.lines)
    top = _Section(ctx, doc.data, (), _SECTIONS)
    workspaces = _Section(
        ctx,
        top.data.get("workspaces"),
        ("workspaces",),
        ["default_template", "templates", "worktree_root"],
    )
    templates = workspaces.get("templates", _templates, _empty())
    default = workspaces.get("default_template", _name("template"), "default")
    if default not in templates:
        known = ", ".join(templates) or "none"
        hint = _did_you_mean(default, templates)
        raise ctx.error(
            ("workspaces", "default_template"),
            f"template {default!r} is not defined (defined: {known}){hint}",
        )
    return Config(
        path=path,
        framework=top.get("framework", _framework, FrameworkConfig()),
        templates=templates,
        default_template=default,
        worktree_root=workspaces.get("worktree_root", _abs_dir, None),
        processes=top.get("processes", _processes, ProcessDefaults()),
        communication=top.get("communication", _communication, CommunicationConfig()),
        ui=top.get("ui", _ui, UiConfig()),
        metrics=top.get("metrics", _metrics, MetricsConfig()),
        notifications=top.get("notifications", _notifications, NotificationsConfig()),
    )


# --------------------------------------------------------------------------- loading


@functools.cache
def _builtin_doc() -> _Doc:
    """The parsed built-in config; shared, so never mutated (``_merge`` copies)."""
    text = resources.files("wzp_supervisor").joinpath("data/config.yaml").read_text("utf-8")
    return _parse_yaml(text, BUILTIN_SOURCE)


@functools.cache
def builtin_config() -> Config:
    """The built-in configuration alone (``wzp_supervisor/data/config.yaml``)."""
    return _build(_builtin_doc(), None)


def parse_config_text(
    text: str, source: str, fmt: ConfigFormat = "yaml", *, path: Path | None = None
) -> Config:
    """Parse a user config (``fmt`` yaml, toml or json) merged over the built-in defaults.

    ``source`` names the text in errors; ``path`` is recorded as ``Config.path``.
    """
    return _build(_merge(_builtin_doc(), _parse(text, source, fmt)), path)


def format_for(path: Path) -> ConfigFormat:
    """The format of a config file, from its suffix (YAML unless .toml or .json)."""
    suffix = path.suffix.lower()
    return "toml" if suffix == ".toml" else "json" if suffix == ".json" else "yaml"


def find_config() -> Path | None:
    """The first existing file of ``paths.config_candidates()``, or None."""
    return next((p for p in paths.config_candidates() if p.is_file()), None)


def load_config(path: Path | None = None) -> Config:
    """Load ``path`` (or the first user config found) merged over the built-in config.

    With no user config at all this is the built-in configuration. Raises ConfigError.
    """
    path = path if path is not None else find_config()
    if path is None:
        return builtin_config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, "", f"cannot read the file: {exc}") from None
    return parse_config_text(text, str(path), format_for(path), path=path)


# --------------------------------------------------------------------------- output

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
_REFERENCE_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _mask(env: Mapping[str, str]) -> dict[str, str]:
    return {
        key: "***"
        if any(word in key.upper() for word in _SECRET_WORDS) and not _REFERENCE_RE.match(value)
        else value
        for key, value in env.items()
    }


def _plain(value: object) -> Any:
    """Dataclasses, mappings and tuples as plain dicts and lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _pane_dict(pane: PaneTemplate, mask: bool) -> dict[str, Any]:
    out: dict[str, Any] = _plain(pane)
    if pane.shell and pane.command is not None:
        out["command"] = pane.command[0]
    out["environment"] = _mask(pane.environment) if mask else dict(pane.environment)
    return out


def _template_dict(template: WorkspaceTemplate, mask: bool) -> dict[str, Any]:
    out: dict[str, Any] = _plain(template)
    del out["name"]
    out["panes"] = [_pane_dict(pane, mask) for pane in template.panes]
    return out


def config_to_dict(cfg: Config, mask_secrets: bool = True) -> dict[str, Any]:
    """The config in its file format (loads back to the same Config), for ``config show``.

    With ``mask_secrets`` environment values under secret-looking names (KEY, TOKEN, SECRET,
    PASSWORD, PASSWD, CREDENTIAL, AUTH) are shown as ``***`` unless they are a pure ``${VAR}``
    reference.
    """
    processes: dict[str, Any] = _plain(cfg.processes)
    env = cfg.processes.environment
    processes["environment"] = _mask(env) if mask_secrets else dict(env)
    return {
        "framework": _plain(cfg.framework),
        "workspaces": {
            "default_template": cfg.default_template,
            "worktree_root": os.fspath(cfg.worktree_root) if cfg.worktree_root else None,
            "templates": {
                name: _template_dict(t, mask_secrets) for name, t in cfg.templates.items()
            },
        },
        "processes": {"claude_code": processes},
        "communication": _plain(cfg.communication),
        "ui": _plain(cfg.ui),
        "metrics": _plain(cfg.metrics),
        "notifications": _plain(cfg.notifications),
    }


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(item) for item in value]
    return value


def dump_config(cfg: Config, fmt: ConfigFormat = "yaml", mask_secrets: bool = True) -> str:
    """``config_to_dict`` rendered as yaml, toml (None values dropped) or json."""
    data = config_to_dict(cfg, mask_secrets)
    if fmt == "toml":
        return tomli_w.dumps(_drop_none(data))
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def resolve_environment(
    env: Mapping[str, str], source: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in ``env`` from ``source``.

    Returns the expanded environment and the names that were missing (unset, no default);
    those expand to "" and the caller should warn about them. As in sh, ``:-`` also applies
    when the variable is set but empty.
    """
    missing: list[str] = []

    def expand(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = source.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None and name not in missing:
            missing.append(name)
        return ""

    return {key: _VAR_RE.sub(expand, value) for key, value in env.items()}, missing

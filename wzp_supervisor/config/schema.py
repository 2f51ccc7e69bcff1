"""The configuration objects: frozen dataclasses, each field declared once with its parser.

The metadata of each field (``parsed(...)``) says how ``validate.read_fields`` reads it from the
file; fields marked ``parsed()`` without a parser are read by hand in ``build.py`` because they
depend on another field (a pane's position on its template's layout, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import wzp_supervisor.config.validate as v
from wzp_supervisor.config.errors import KeyPath
from wzp_supervisor.config.validate import INTERNAL, Ctx, parsed

RestartPolicy = Literal["always", "on-failure", "never"]
AgentKind = Literal["claude", "none"]
Isolation = Literal["none", "worktree"]
Protocol = Literal["unix_socket"]
OnStall = Literal["notify", "restart"]

PermissionMode = Literal["default", "acceptEdits", "auto", "bypassPermissions", "plan", "dontAsk"]

RESTART_POLICIES: tuple[str, ...] = get_args(RestartPolicy)
PERMISSION_MODES: tuple[str, ...] = get_args(PermissionMode)
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)
ISOLATIONS: tuple[str, ...] = get_args(Isolation)
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
ON_STALL: tuple[str, ...] = get_args(OnStall)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
RLIMIT_NAMES = ("nofile", "nproc", "as")
KEYBINDING_ACTIONS = (
    "create_workspace",
    "switch_workspace",
    "kill_process",
    "show_dashboard",
    "jump_to_waiting",
    "answer_waiting",
)
KEY_MODIFIERS = ("ctrl", "shift", "alt", "opt", "meta", "super", "cmd", "win", "leader")


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


def _key_chord(ctx: Ctx, value: object, path: KeyPath) -> str:
    chord = v.string(ctx, value, path)
    *mods, key = chord.lower().split("+")
    bad = [mod for mod in mods if mod not in KEY_MODIFIERS]
    if not key or bad:
        what = f"unknown modifier {bad[0]!r}" if bad else "no key"
        raise ctx.error(path, f"{chord!r} is not a key chord like 'ctrl+shift+n' ({what})")
    return chord


_RESTART = v.choice(RESTART_POLICIES, "restart policy")
_ON_STALL = v.choice(ON_STALL, "on_stall action")
_SECONDS = v.number(0, 86400, positive=True)


@dataclass(frozen=True)
class FrameworkConfig:
    """``framework``: identity and global limits."""

    name: str = field(default="wezterm-parallel", metadata=parsed(v.string))
    version: str | None = field(default=None, metadata=parsed(v.text))
    max_workspaces: int = field(default=8, metadata=parsed(v.integer(1, 1000)))
    log_level: str = field(default="info", metadata=parsed(v.choice(LOG_LEVELS, "log level")))


@dataclass(frozen=True)
class ProcessDefaults:
    """``processes.claude_code``: how agents run, and the restart defaults of every pane."""

    command: tuple[str, ...] = field(default=("claude",), metadata=parsed(v.argv))
    max_instances: int = field(default=16, metadata=parsed(v.integer(1, 1000)))
    restart_policy: RestartPolicy = field(default="always", metadata=parsed(_RESTART))
    min_uptime: float = field(default=10.0, metadata=parsed(v.number(0, 86400)))
    max_retries: int = field(default=5, metadata=parsed(v.integer(0, 1000)))
    backoff_max: float = field(default=60.0, metadata=parsed(v.number(0, 86400, positive=True)))
    health_check_interval: float = field(
        default=30.0, metadata=parsed(v.number(0, 86400, positive=True))
    )
    stall_after: float | None = field(default=None, metadata=parsed(_SECONDS))
    """Busy this long with no output, hook or progress: stalled (None: 10 × the interval)."""
    on_stall: OnStall = field(default="notify", metadata=parsed(_ON_STALL))
    timeout: float = field(default=10.0, metadata=parsed(v.number(0, 3600, positive=True)))
    environment: Mapping[str, str] = field(default_factory=_empty, metadata=parsed(v.environment))
    env_passthrough: tuple[str, ...] = field(default=(), metadata=parsed(v.env_names))


@dataclass(frozen=True)
class PaneTemplate:
    """One pane of a workspace template."""

    name: str = field(metadata=parsed())
    position: str = field(metadata=parsed())
    command: tuple[str, ...] | None = field(default=None, metadata=parsed())
    agent: AgentKind = field(default="claude", metadata=parsed())
    supervised: bool = field(default=True, metadata=parsed(v.boolean))
    shell: bool = field(default=False, metadata=parsed())
    restart_policy: RestartPolicy | None = field(default=None, metadata=parsed(_RESTART))
    min_uptime: float | None = field(default=None, metadata=parsed(v.number(0, 86400)))
    max_retries: int | None = field(default=None, metadata=parsed(v.integer(0, 1000)))
    backoff_max: float | None = field(
        default=None, metadata=parsed(v.number(0, 86400, positive=True))
    )
    environment: Mapping[str, str] = field(default_factory=_empty, metadata=parsed(v.environment))
    cwd: str | None = field(default=None, metadata=parsed(v.string))
    health_check_interval: float | None = field(default=None, metadata=parsed(_SECONDS))
    stall_after: float | None = field(default=None, metadata=parsed(_SECONDS))
    on_stall: OnStall | None = field(default=None, metadata=parsed(_ON_STALL))


@dataclass(frozen=True)
class WorkspaceTemplate:
    """``workspaces.templates.NAME``: a layout and its panes."""

    name: str = field(metadata=INTERNAL)
    layout: str = field(metadata=parsed())
    panes: tuple[PaneTemplate, ...] = field(metadata=parsed())
    description: str = field(default="", metadata=parsed(v.string))
    auto_start: bool = field(
        default=True,
        metadata=parsed(v.boolean, key="auto_start_processes", aliases=["auto_start"]),
    )
    isolation: Isolation = field(default="none", metadata=parsed(v.choice(ISOLATIONS, "isolation")))
    notify: bool = field(default=True, metadata=parsed(v.boolean))
    rlimits: Mapping[str, int] = field(
        default_factory=_empty, metadata=parsed(v.keyed(RLIMIT_NAMES, v.integer(1, 2**63 - 1)))
    )
    health_check_interval: float | None = field(default=None, metadata=parsed(_SECONDS))
    stall_after: float | None = field(default=None, metadata=parsed(_SECONDS))
    on_stall: OnStall | None = field(default=None, metadata=parsed(_ON_STALL))


def _protocol(ctx: Ctx, value: object, path: KeyPath) -> str:
    word = v.string(ctx, value, path)
    if word == "websocket":
        raise ctx.error(
            path,
            "websocket is not served: the hub is a Unix socket for clients on this machine; "
            "to drive agents on another host, run wzp there (for example `ssh HOST wzp status`)",
        )
    parsed_word: str = v.choice(PROTOCOLS, "protocol")(ctx, word, path)
    return parsed_word


@dataclass(frozen=True)
class CommunicationConfig:
    """``communication``: the hub socket.

    ``message_timeout`` is written in milliseconds in the file and held here in seconds.
    """

    protocol: Protocol = field(default="unix_socket", metadata=parsed(_protocol))
    socket_path: str | None = field(default=None, metadata=parsed(v.string))
    message_timeout: float = field(
        default=30.0,
        metadata=parsed(v.millis_as_seconds(100, 3_600_000), dump=v.seconds_as_millis),
    )
    max_message_bytes: int = field(default=1_048_576, metadata=parsed(v.integer(1024, 64 << 20)))


STATUS_BAR_DEFAULTS: Mapping[str, bool | float] = MappingProxyType(
    {"enabled": True, "update_interval": 1.0, "show_resources": True}
)


def _status_bar(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, bool | float]:
    """``ui.status_bar``: every key present, the unset ones at their defaults."""
    parsers: dict[str, v.Parser[Any]] = {
        "enabled": v.boolean,
        "update_interval": v.number(0, 3600, positive=True),
        "show_resources": v.boolean,
    }
    s = v.Section(ctx, value, path, list(parsers))
    return MappingProxyType(
        {key: s.get(key, parse, STATUS_BAR_DEFAULTS[key]) for key, parse in parsers.items()}
    )


THEMES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "dark": MappingProxyType(
            {
                "busy": "#e0af68",
                "waiting_input": "#f7768e",
                "idle": "#9ece6a",
                "starting": "#7aa2f7",
                "fatal": "#db4b4b",
                "stale": "#565f89",
            }
        ),
        "light": MappingProxyType(
            {
                "busy": "#8f5e15",
                "waiting_input": "#c0304a",
                "idle": "#33635c",
                "starting": "#2e5fb8",
                "fatal": "#a31d1d",
                "stale": "#848cb5",
            }
        ),
    }
)
"""The named themes: status bar colours by agent state."""


def _theme(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, str]:
    """A theme name (its colours) or a mapping of state: colour."""
    if isinstance(value, str):
        name: str = v.choice(list(THEMES), "theme")(ctx, value, path)
        return THEMES[name]
    if value is not None and not isinstance(value, dict):
        raise v.type_error(ctx, path, "a theme name or a mapping of colours", value)
    return v.str_map(ctx, value, path)


@dataclass(frozen=True)
class UiConfig:
    """``ui``: what the WezTerm plugin shows and the keys it binds."""

    theme: Mapping[str, str] = field(default_factory=_empty, metadata=parsed(_theme))
    status_bar: Mapping[str, bool | float] = field(
        default_factory=lambda: STATUS_BAR_DEFAULTS, metadata=parsed(_status_bar)
    )
    keybindings: Mapping[str, str] = field(
        default_factory=_empty, metadata=parsed(v.keyed(KEYBINDING_ACTIONS, _key_chord))
    )
    show_process_status: bool = field(default=True, metadata=parsed(v.boolean))
    auto_hide_inactive_panes: bool = field(default=False, metadata=parsed(v.boolean))


@dataclass(frozen=True)
class MetricsConfig:
    """``metrics``: the optional Prometheus endpoint."""

    enabled: bool = field(default=False, metadata=parsed(v.boolean))
    host: str = field(default="127.0.0.1", metadata=parsed(v.string))
    port: int = field(default=9464, metadata=parsed(v.integer(1, 65535)))


@dataclass(frozen=True)
class NotificationsConfig:
    """``notifications``: desktop notifications when an agent waits for input."""

    enabled: bool = field(default=True, metadata=parsed(v.boolean))
    command: tuple[str, ...] | None = field(default=None, metadata=parsed(v.argv))
    min_interval: float = field(default=30.0, metadata=parsed(v.number(0, 86400)))


def _words(ctx: Ctx, value: object, path: KeyPath) -> tuple[str, ...]:
    """A list of strings (may be empty), or one string split like a shell would."""
    if isinstance(value, list) and not value:
        return ()
    return v.argv(ctx, value, path)


@dataclass(frozen=True)
class PoolConcurrency:
    """``pools.<name>.concurrency``: how many of the pool's tasks run at once, in all
    (``total``; None: ``max``) and per workspace of the tasks (``per_workspace``; None: no
    bound of its own). ``max`` bounds both; a task without a workspace counts in ``total`` only.
    """

    total: int | None = field(default=None, metadata=parsed(v.integer(1, 1000)))
    per_workspace: int | None = field(default=None, metadata=parsed(v.integer(1, 1000)))


def _concurrency(ctx: Ctx, value: object, path: KeyPath) -> PoolConcurrency:
    """An integer (the total) or a mapping ``{total, per_workspace}``; null: no bounds."""
    if value is None:
        return PoolConcurrency()
    if isinstance(value, dict):
        return v.read(PoolConcurrency, ctx, value, path)
    if isinstance(value, int) and not isinstance(value, bool):
        return PoolConcurrency(total=v.integer(1, 1000)(ctx, value, path))
    raise v.type_error(ctx, path, "an integer or a mapping {total, per_workspace}", value)


@dataclass(frozen=True)
class PoolConfig:
    """``pools.<name>``: headless Claude Code workers that take tasks (``task.submit {pool}``).

    ``command`` defaults to ``processes.claude_code.command``; ``min`` workers are kept warm,
    never more than ``max`` run; a worker idle for ``idle_timeout`` seconds is stopped (down to
    ``min``), and one is replaced after ``max_turns_per_worker`` turns or once it has cost
    ``max_cost_per_worker`` dollars. ``concurrency`` caps the tasks of this pool running at
    once, in all and per workspace (:class:`PoolConcurrency`). With ``worktree`` each worker
    runs in a git worktree of its own (``cwd`` must be inside a repository).
    """

    name: str = field(metadata=INTERNAL)
    command: tuple[str, ...] | None = field(default=None, metadata=parsed(v.argv))
    args: tuple[str, ...] = field(default=(), metadata=parsed(_words))
    min: int = field(default=0, metadata=parsed(v.integer(0, 1000)))
    max: int = field(default=4, metadata=parsed(v.integer(1, 1000)))
    idle_timeout: float = field(default=300.0, metadata=parsed(_SECONDS))
    max_turns_per_worker: int | None = field(default=None, metadata=parsed(v.integer(1, 10**9)))
    max_cost_per_worker: float | None = field(
        default=None, metadata=parsed(v.number(0, 10**9, positive=True))
    )
    concurrency: PoolConcurrency = field(
        default_factory=PoolConcurrency, metadata=parsed(_concurrency)
    )
    permission_mode: PermissionMode | None = field(
        default=None, metadata=parsed(v.choice(PERMISSION_MODES, "permission mode"))
    )
    allowed_tools: tuple[str, ...] = field(default=(), metadata=parsed(_words))
    cwd: Path | None = field(default=None, metadata=parsed(v.abs_dir))
    worktree: bool = field(default=False, metadata=parsed(v.boolean))
    """Each worker works in its own git worktree of the repository holding ``cwd``."""
    environment: Mapping[str, str] = field(default_factory=_empty, metadata=parsed(v.environment))
    restart_policy: RestartPolicy = field(default="on-failure", metadata=parsed(_RESTART))


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
    pools: Mapping[str, PoolConfig] = field(default_factory=_empty)
    locations: Mapping[KeyPath, tuple[str, int | None]] = field(
        default_factory=_empty, compare=False, repr=False
    )

    def where(self, *path: str | int) -> tuple[str, int | None]:
        """The file and line that set ``path`` (or its nearest parent that has a line)."""
        for depth in range(len(path), -1, -1):
            found = self.locations.get(path[:depth])
            if found is not None:
                return found
        return (str(self.path) if self.path else "<built-in config.yaml>", None)

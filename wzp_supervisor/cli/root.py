"""The root ``wzp`` click group; each command area's module is imported when it is used.

This is click's documented ``LazyGroup`` pattern: the group knows every command by name and
the ``module.attribute`` that defines it, and imports that module only when the command
runs or its help is shown, so ``wzp status`` does not pay for ``wzp service``. The lazy
table is the group's ``commands`` mapping itself (:class:`LazyCommands`), so click's
"did you mean" suggestions and ``main.commands`` see every command.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import click

from wzp_supervisor import __version__

_AREA = "wzp_supervisor.cli."

# command name → "module.attribute" (relative to wzp_supervisor.cli) of its click command
COMMANDS: dict[str, str] = {
    # daemon lifecycle
    "daemon": "daemon_cmds.daemon",
    "up": "daemon_cmds.up",
    "down": "daemon_cmds.down",
    "ping": "daemon_cmds.ping",
    # processes
    "status": "process_cmds.status",
    "list": "process_cmds.list_processes",
    "start": "process_cmds.start",
    "stop": "process_cmds.stop",
    "restart": "process_cmds.restart",
    "kill": "process_cmds.kill",
    "signal": "process_cmds.signal_cmd",
    # workspaces and layouts
    "workspace": "workspace_cmds.workspace",
    "layout": "workspace_cmds.layout",
    # configuration
    "config": "config_cmds.config",
    # sessions
    "attach": "session_cmds.attach",
    "send": "session_cmds.send",
    "peek": "session_cmds.peek",
    "logs": "session_cmds.logs",
    # tasks and events
    "task": "task_cmds.task",
    "broadcast": "task_cmds.broadcast",
    "events": "task_cmds.events",
    # observing
    "stats": "observe_cmds.stats",
    "top": "observe_cmds.top",
    "dashboard": "observe_cmds.dashboard",
    "metrics": "observe_cmds.metrics",
    # the user service
    "service": "service_cmds.service",
    "reload": "service_cmds.reload_cmd",
    # worktree isolation
    "diff": "diff_cmd.diff_cmd",
}


class LazyCommands(MutableMapping[str, click.Command]):
    """Command name → click command, importing the command's module on first read."""

    def __init__(self, lazy: Mapping[str, str]) -> None:
        self._lazy = dict(lazy)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            module_name, attribute = self._lazy[name].rsplit(".", 1)
            command = getattr(importlib.import_module(_AREA + module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}.{attribute} is not a click command")
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._lazy.pop(name, None)
        self._loaded.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._lazy or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._lazy, *self._loaded}))

    def __len__(self) -> int:
        return len({*self._lazy, *self._loaded})


class LazyGroup(click.Group):
    """A group whose subcommands are imported from ``lazy_subcommands`` on first use.

    click's documented lazy-loading group, with the lazy table kept as the group's
    ``commands`` mapping, so "did you mean" suggestions and lookups see every command.
    """

    def __init__(
        self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        kwargs["commands"] = LazyCommands(lazy_subcommands or {})
        super().__init__(*args, **kwargs)


@click.group(
    cls=LazyGroup,
    lazy_subcommands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="wzp")
def main() -> None:
    """Supervise many AI coding agents in parallel across WezTerm workspaces.

    Agents run under a per-user daemon (Circus inside) and survive closed terminals, crashes
    and restarts. Start it with `wzp up`, create a workspace with `wzp workspace create`, and
    watch it with `wzp status`.

    Exit codes: 0 done, 1 the request failed, 2 usage error, 3 daemon not running.
    """

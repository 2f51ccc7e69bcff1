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
from wzp_supervisor.cli.hub_client import EXIT_INTERRUPTED

_AREA = "wzp_supervisor.cli."

# command name → "module.attribute" (relative to wzp_supervisor.cli) of its click command
COMMANDS: dict[str, str] = {
    # daemon lifecycle
    "daemon": "daemon_cmds.daemon",
    "up": "daemon_cmds.up",
    "down": "daemon_cmds.down",
    "ping": "daemon_cmds.ping",
    "doctor": "doctor.doctor",
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
    "answer": "answer_cmd.answer",
    "peek": "session_cmds.peek",
    "logs": "session_cmds.logs",
    # tasks and events
    "task": "task_cmds.task",
    "broadcast": "task_cmds.broadcast",
    "events": "task_cmds.events",
    "pool": "pool_cmds.pool",
    "pools": "pool_cmds.pools",
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


# `wzp --help` lists the commands in these groups, in this order (as the README's table)
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Daemon", ("up", "down", "daemon", "ping", "doctor", "reload", "service")),
    ("Workspaces", ("workspace", "layout")),
    ("Processes", ("status", "list", "start", "stop", "restart", "kill", "signal")),
    ("Sessions", ("attach", "send", "answer", "peek", "logs", "diff")),
    ("Tasks and events", ("task", "pool", "pools", "broadcast", "events")),
    ("Observing", ("stats", "top", "dashboard", "metrics")),
    ("Configuration", ("config",)),
)

# one example per command (shown at the end of its --help unless its help has its own)
EXAMPLES: dict[str, str] = {
    "up": "wzp up --config ~/.config/wezterm-parallel/config.yaml",
    "down": "wzp down --timeout 30",
    "daemon": "wzp daemon restart",
    "ping": "wzp ping || wzp up",
    "doctor": "wzp doctor --json",
    "reload": "wzp reload --wait",
    "service install": "wzp service install --now --dry-run",
    "service uninstall": "wzp service uninstall --dry-run",
    "service status": "wzp service status",
    "service logs": "wzp service logs -f -n 50",
    "workspace create": "wzp workspace create app --template web_dev --dir ~/code/app",
    "workspace list": "wzp workspace list --json",
    "workspace delete": "wzp workspace delete app",
    "workspace switch": "wzp workspace switch app",
    "layout": "wzp layout app --json",
    "status": "wzp status demo --json",
    "list": "wzp list --json",
    "start": "wzp start demo/agent-1      # or a workspace: wzp start demo; every one: all",
    "stop": "wzp stop demo               # a workspace; or demo/agent-1, or all",
    "restart": "wzp restart demo/agent-1    # or a workspace (demo), or all",
    "kill": "wzp kill demo/agent-2       # or a workspace (demo), or all",
    "signal": "wzp signal demo/devserver HUP",
    "attach": "wzp attach demo/agent-1     # detach: ctrl+]",
    "send": "wzp send demo/agent-1 'run the tests' --enter",
    "answer": "wzp answer demo/agent-1 yes     # the permission dialog on its screen",
    "peek": "wzp peek demo/agent-1 -n 20",
    "logs": "wzp logs demo/agent-1 --plain -n 50",
    "diff": "wzp diff demo/agent-1 --stat",
    "task send": "wzp task send demo/agent-1 'explain this repo' --wait",
    "task submit": "wzp task submit --pool fast 'summarise README.md' --wait",
    "task map": "wzp task map --pool fast prompts.txt > results.jsonl",
    "task list": "wzp task list --json",
    "pool list": "wzp pool list --json",
    "pools": "wzp pools",
    "task show": "wzp task show 3f2a",
    "task cancel": "wzp task cancel 3f2a",
    "broadcast": "wzp broadcast --workspace demo 'commit your work now'",
    "events": "wzp events -f --topic AgentStateChanged",
    "stats": "wzp stats --sort cpu",
    "top": "wzp top --interval 2",
    "dashboard": "wzp dashboard",
    "metrics": "wzp metrics | grep wzp_",
    "config check": "wzp config check --config ./config.yaml",
    "config show": "wzp config show --format toml",
}


def add_examples(command: click.Command, path: str = "") -> None:
    """Give ``command`` (and its subcommands) its example from :data:`EXAMPLES`."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            add_examples(sub, f"{path} {name}".strip())
        return
    example = EXAMPLES.get(path)
    if example and "Example" not in (command.help or "") and not command.epilog:
        command.epilog = f"\b\nExample:\n  {example}"


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
            add_examples(command, name)
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

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; ctrl+c that the command does not handle itself ends ``wzp`` with
        status 130, as a shell reports a SIGINT death, instead of click's "Aborted!"."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            ctx.exit(EXIT_INTERRUPTED)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands in the sections of :data:`SECTIONS`, then any others."""
        listed: set[str] = set()
        width = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        for title, names in (*SECTIONS, ("Other", tuple(self.list_commands(ctx)))):
            rows = []
            for name in names:
                command = self.get_command(ctx, name) if name not in listed else None
                if command is None or command.hidden:
                    continue
                listed.add(name)
                rows.append((name, command.get_short_help_str(limit=width)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


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

    Exit codes: 0 done, 1 the request failed, 2 usage error, 3 daemon not running,
    130 interrupted.
    """

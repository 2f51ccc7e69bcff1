"""The ``wzp`` command line: a root click group and the area modules that register on it."""

from __future__ import annotations

import importlib

import click

from wzp_supervisor import __version__

# Each area module defines ``register(group)``; see docs/contracts.md "CLI modules".
_AREAS = ("core", "session_cmds", "tasks", "observe", "service_cmds", "security_cmds")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wzp")
def main() -> None:
    """Supervise many AI coding agents in parallel across WezTerm workspaces.

    Agents run under a per-user daemon (Circus inside) and survive closed terminals, crashes
    and restarts. Start it with `wzp up`, create a workspace with `wzp workspace create`, and
    watch it with `wzp status`.

    Exit codes: 0 done, 1 the request failed, 2 usage error, 3 daemon not running.
    """


for _area in _AREAS:
    try:
        _module = importlib.import_module(f"wzp_supervisor.cli.{_area}")
    except ModuleNotFoundError as exc:  # an area not built yet
        if exc.name != f"wzp_supervisor.cli.{_area}":
            raise
        continue
    _module.register(main)

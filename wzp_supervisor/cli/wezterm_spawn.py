"""Lay out a workspace from a shell through `wezterm cli` (when WezTerm is running).

The plugin does the same with `wezterm.mux` from inside WezTerm; this path serves
`wzp workspace create` and `wzp workspace switch` typed in a shell. Without WezTerm it prints
the attach commands instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from wzp_supervisor.cli.common import hub_request

_DIRECTIONS = {"Right": "--right", "Left": "--left", "Top": "--top", "Bottom": "--bottom"}


def wezterm_available() -> bool:
    return bool(os.environ.get("WEZTERM_UNIX_SOCKET")) and shutil.which("wezterm") is not None


def _cli(*args: str) -> str:
    result = subprocess.run(
        ["wezterm", "cli", "--no-auto-start", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    )
    return result.stdout.strip()


def spawn_commands(plan: dict[str, Any]) -> list[list[str]]:
    """The `wezterm cli` argument lists that realise ``plan`` (pane ids filled in later)."""
    commands = []
    for pane in plan["panes"]:
        if pane["split_from"] is None:
            commands.append(
                [
                    "spawn",
                    "--new-window",
                    "--workspace",
                    plan["workspace"],
                    "--cwd",
                    plan["cwd"],
                    "--",
                    *pane["command"],
                ]
            )
        else:
            percent = str(round(float(pane["size"] or 0.5) * 100))
            commands.append(
                [
                    "split-pane",
                    "--pane-id",
                    "{" + pane["split_from"] + "}",
                    _DIRECTIONS[pane["direction"]],
                    "--percent",
                    percent,
                    "--cwd",
                    plan["cwd"],
                    "--",
                    *pane["command"],
                ]
            )
    return commands


def lay_out(plan: dict[str, Any]) -> dict[str, str]:
    """Create the panes of ``plan`` in a new WezTerm window; returns pane name → pane id."""
    ids: dict[str, str] = {}
    for pane, argv in zip(plan["panes"], spawn_commands(plan), strict=True):
        argv = [ids[a[1:-1]] if a.startswith("{") and a.endswith("}") else a for a in argv]
        ids[pane["pane"]] = _cli(*argv)
    return ids


def wzp_argv() -> list[str]:
    """How panes should run wzp: this very executable when it is a file (the WezTerm server's
    PATH may not have it), else plain ``wzp``."""
    program = Path(sys.argv[0])
    if program.name == "wzp" and program.is_file():
        return [os.fspath(program.resolve())]
    return ["wzp"]


def maybe_lay_out(name: str) -> None:
    """After `workspace create`: open the panes in WezTerm when it is running."""
    if not wezterm_available():
        return
    plan = hub_request("layout", name=name, wzp=wzp_argv())["layout"]
    try:
        ids = lay_out(plan)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        click.echo(f"wzp: could not lay out panes in WezTerm: {exc}", err=True)
        return
    click.echo(f"opened {len(ids)} panes in WezTerm workspace {name}")


def switch_to(name: str) -> None:
    """Open workspace ``name`` in WezTerm, or print how to attach to its agents."""
    plan = hub_request("layout", name=name, wzp=wzp_argv())["layout"]
    if wezterm_available():
        ids = lay_out(plan)
        click.echo(f"opened {len(ids)} panes in WezTerm workspace {name}")
        return
    click.echo("WezTerm is not running here; attach from any terminal:")
    for pane in plan["panes"]:
        click.echo(f"  {' '.join(pane['command'])}")

"""Show a workspace in WezTerm from a shell, through `wezterm cli` (when WezTerm is running).

The plugin lays workspaces out with `wezterm.mux` from inside WezTerm and passes
``--no-layout``; this path serves `wzp workspace create` and `wzp workspace switch` typed in a
shell. WezTerm shows one workspace at a time and no `wezterm cli` subcommand switches it, so:

- a workspace WezTerm already shows (a pane in WezTerm workspace NAME, or a tab titled
  ``wzp:NAME``, from `wezterm cli list --format json`) is reused, never laid out again; when
  that tab is in the current window's workspace it is activated;
- otherwise, typed in a WezTerm pane (``WEZTERM_PANE`` set), the panes open in a new tab of
  the current window, titled ``wzp:NAME``: visible at once;
- otherwise they open in a new window of WezTerm workspace NAME, and the message says how to
  switch to it.

Without WezTerm it prints the attach commands instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import click

from wzp_supervisor.cli.common import hub_request

_CLI_ERRORS = (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, ValueError)
_DIRECTIONS = {"Right": "--right", "Left": "--left", "Top": "--top", "Bottom": "--bottom"}

SWITCH_HINT = (
    "WezTerm shows one workspace at a time and `wezterm cli` cannot switch it: press the "
    "wezterm-parallel switch_workspace key (ctrl+shift+w by default) and pick {name}"
)


class CliPane(TypedDict):
    """One row of `wezterm cli list --format json` (the fields used here)."""

    window_id: int
    tab_id: int
    pane_id: int
    workspace: str
    tab_title: str


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


def tab_title(name: str) -> str:
    """The title of a tab this module lays workspace ``name`` out in."""
    return f"wzp:{name}"


def list_panes() -> list[CliPane]:
    """Every pane WezTerm has, from `wezterm cli list --format json`."""
    rows: Any = json.loads(_cli("list", "--format", "json") or "[]")
    panes: list[CliPane] = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            panes.append(
                {
                    "window_id": int(row.get("window_id", -1)),
                    "tab_id": int(row.get("tab_id", -1)),
                    "pane_id": int(row.get("pane_id", -1)),
                    "workspace": str(row.get("workspace", "")),
                    "tab_title": str(row.get("tab_title", "")),
                }
            )
    return panes


def find_shown(panes: Sequence[CliPane], name: str) -> CliPane | None:
    """A pane that already shows workspace ``name``: in WezTerm workspace ``name`` or in a tab
    titled ``wzp:name``."""
    for pane in panes:
        if pane["workspace"] == name or pane["tab_title"] == tab_title(name):
            return pane
    return None


def current_pane(panes: Sequence[CliPane]) -> CliPane | None:
    """The pane this command runs in (``WEZTERM_PANE``), when WezTerm lists it."""
    raw = os.environ.get("WEZTERM_PANE", "")
    if not raw.isdigit():
        return None
    for pane in panes:
        if pane["pane_id"] == int(raw):
            return pane
    return None


def spawn_commands(plan: dict[str, Any], into_pane: int | None = None) -> list[list[str]]:
    """The `wezterm cli` argument lists that realise ``plan`` (pane ids filled in later): a new
    window of WezTerm workspace ``plan["workspace"]``, or with ``into_pane`` a new tab in the
    window of that pane."""
    commands = []
    for pane in plan["panes"]:
        if pane["split_from"] is None:
            if into_pane is None:
                where = ["--new-window", "--workspace", plan["workspace"]]
            else:
                where = ["--pane-id", str(into_pane)]
            commands.append(["spawn", *where, "--cwd", plan["cwd"], "--", *pane["command"]])
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


def lay_out(plan: dict[str, Any], into_pane: int | None = None) -> dict[str, str]:
    """Create the panes of ``plan`` (see spawn_commands); returns pane name → pane id."""
    ids: dict[str, str] = {}
    for pane, argv in zip(plan["panes"], spawn_commands(plan, into_pane), strict=True):
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


def show_in_wezterm(name: str) -> None:
    """Reuse the panes that show workspace ``name``, or open them where the user sees them."""
    panes = list_panes()
    here = current_pane(panes)
    shown = find_shown(panes, name)
    if shown is not None:
        if here is not None and shown["workspace"] == here["workspace"]:
            _cli("activate-tab", "--tab-id", str(shown["tab_id"]))
            click.echo(f"workspace {name} is already open in this WezTerm window: switched to it")
        else:
            click.echo(
                f"workspace {name} is already open in WezTerm (workspace {shown['workspace']}, "
                f"window {shown['window_id']}); " + SWITCH_HINT.format(name=shown["workspace"])
            )
        return
    plan = hub_request("layout", name=name, wzp=wzp_argv())["layout"]
    if here is not None:
        ids = lay_out(plan, into_pane=here["pane_id"])
        first = ids[plan["panes"][0]["pane"]]
        _cli("set-tab-title", "--pane-id", first, tab_title(name))
        click.echo(
            f"opened {len(ids)} panes in WezTerm workspace {here['workspace']}: "
            f"a new tab {tab_title(name)} of this window"
        )
        return
    ids = lay_out(plan)
    click.echo(
        f"opened {len(ids)} panes in WezTerm workspace {name}, in a new window; "
        + SWITCH_HINT.format(name=name)
    )


def maybe_lay_out(name: str) -> None:
    """After `workspace create`: show the panes in WezTerm when it is running."""
    if not wezterm_available():
        return
    try:
        show_in_wezterm(name)
    except _CLI_ERRORS as exc:
        click.echo(f"wzp: could not lay out panes in WezTerm: {exc}", err=True)


def switch_to(name: str) -> None:
    """Show workspace ``name`` in WezTerm, or print how to attach to its agents."""
    if wezterm_available():
        try:
            show_in_wezterm(name)
        except _CLI_ERRORS as exc:
            raise click.ClickException(f"could not show {name} in WezTerm: {exc}") from exc
        return
    plan = hub_request("layout", name=name, wzp=wzp_argv())["layout"]
    click.echo("WezTerm is not running here; attach from any terminal:")
    for pane in plan["panes"]:
        click.echo(f"  {' '.join(pane['command'])}")

"""Workspace verbs: ``workspace create|list|delete|switch`` and ``layout`` (the pane plan)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from wzp_supervisor.cli.common import (
    config_option,
    echo,
    fail,
    hub_request,
    json_option,
    plural,
    print_json,
    table,
)
from wzp_supervisor.cli.hub_client import (
    DaemonNotRunning,
    HubClient,
    HubError,
    UnsafeHub,
    command_request,
)

no_layout_option = click.option(
    "--no-layout",
    is_flag=True,
    help="Do not open the panes through `wezterm cli` (the WezTerm plugin lays them out).",
)


@click.group()
def workspace() -> None:
    """Create, list, delete and switch workspaces."""


@workspace.command(name="create")
@click.argument("name")
@click.option("--template", "-t", help="Template name (default: workspaces.default_template).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory the agents work in (default: the current directory).",
)
@no_layout_option
@json_option
def workspace_create(
    name: str, template: str | None, directory: Path | None, no_layout: bool, as_json: bool
) -> None:
    """Create workspace NAME from a template and start its agents.

    When WezTerm is running, its panes are opened there through `wezterm cli`.

    \b
    Example:
      wzp workspace create app --template web_dev --dir ~/code/app
    """
    target_dir = (directory or Path.cwd()).expanduser().resolve()
    fields: dict[str, Any] = {"name": name, "dir": os.fspath(target_dir)}
    if template:
        fields["template"] = template
    try:
        reply = command_request("workspace.create", socket_timeout=None, **fields)
    except HubError as exc:
        fail(exc.message + _did_you_mean(template, exc.message), exc.exit_code)
    answer = {k: v for k, v in reply.items() if k not in ("v", "id", "ok")}
    if as_json:
        print_json(answer)
        return
    ws = answer["workspace"]
    echo(f"workspace {ws['name']} created from template {ws['template']} in {ws['dir']}")
    for target in ws["processes"]:
        echo(f"  {target}    attach: wzp attach {target}")
    if no_layout:
        return
    from wzp_supervisor.cli.wezterm_spawn import maybe_lay_out

    maybe_lay_out(ws["name"])


def _did_you_mean(template: str | None, message: str) -> str:
    """`` (did you mean 'web_dev'?)`` for an unknown template close to a known one."""
    import re

    known = re.search(r"\(known: ([^)]*)\)", message)
    if template is None or not message.startswith("unknown template") or known is None:
        return ""
    return _suggest(template, [n.strip() for n in known.group(1).split(",")])


def _suggest(name: str, names: list[str]) -> str:
    """``; did you mean 'web_dev'?`` when one of ``names`` is close to ``name``, else ""."""
    import difflib

    names = [n for n in names if n]
    wanted = name.lower().replace("-", "_").replace(" ", "_")
    exact = [n for n in names if n.replace("-", "_") == wanted]
    close = exact or difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@workspace.command(name="list")
@json_option
def workspace_list(as_json: bool) -> None:
    """Workspaces with their template, directory and counts by state."""
    answer = hub_request("workspace.list")
    if as_json:
        print_json(answer)
        return
    rows = []
    for ws in answer["workspaces"]:
        counts = " ".join(f"{k}={v}" for k, v in sorted(ws["totals"].items()))
        rows.append([ws["name"], ws["template"], str(len(ws["processes"])), counts, ws["dir"]])
    if not rows:
        click.echo("no workspaces; create one with `wzp workspace create NAME`")
        return
    click.echo(table(rows, ["workspace", "template", "procs", "states", "dir"]))


@workspace.command(name="delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also remove worktrees holding unsaved work.")
def workspace_delete(name: str, force: bool) -> None:
    """Stop workspace NAME's processes and forget it."""
    answer = hub_request("workspace.delete", socket_timeout=None, name=name, force=force)
    stopped = plural(len(answer["processes"]), "process", "processes")
    echo(f"workspace {answer['deleted']} deleted ({stopped} stopped)")


@workspace.command(name="switch")
@click.argument("name")
@no_layout_option
def workspace_switch(name: str, no_layout: bool) -> None:
    """Show workspace NAME in WezTerm (or print its attach commands without WezTerm).

    With --no-layout it only checks that NAME exists (exit 1 when it does not).
    """
    listing = hub_request("workspace.list")["workspaces"]
    if not any(ws["name"] == name for ws in listing):
        fail(f"no workspace named {name!r}")
    if no_layout:
        return
    from wzp_supervisor.cli.wezterm_spawn import switch_to

    switch_to(name)


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (the default).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for a template's plan (default: current directory).",
)
@config_option
def layout(name: str, as_json: bool, directory: Path | None, config_path: Path | None) -> None:
    """The pane split plan of workspace or template NAME (used by the WezTerm plugin)."""
    del as_json  # JSON is the only output format
    plan: dict[str, Any] | None = None
    try:
        with HubClient(timeout=10) as client:
            listing = client.request("workspace.list")["workspaces"]
            if any(ws["name"] == name for ws in listing):
                plan = client.request("layout", name=name)["layout"]
    except UnsafeHub as exc:
        fail(str(exc))
    except (DaemonNotRunning, OSError, ConnectionError):
        plan = None
    if plan is None:
        from wzp_supervisor import templates
        from wzp_supervisor.config import ConfigError, load_config

        try:
            cfg = load_config(config_path)
        except ConfigError as exc:
            fail(str(exc))
        template = cfg.templates.get(name)
        if template is None:
            fail(f"no workspace or template named {name!r}{_suggest(name, list(cfg.templates))}")
        plan = templates.layout_plan(
            name,
            template,
            (directory or Path.cwd()).resolve(),
            default_command=tuple(cfg.processes.command),
        )
    click.echo(json.dumps(plan, indent=2))

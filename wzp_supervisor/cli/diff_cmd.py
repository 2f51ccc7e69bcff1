"""``wzp diff ws/pane``: an agent's changes in its git worktree."""

from __future__ import annotations

from typing import Any

import click

from wzp_supervisor.cli.common import echo, fail, hub_request, print_json
from wzp_supervisor.cli.hub_client import HubError, command_request


@click.command(name="diff")
@click.argument("target")
@click.option("--stat", is_flag=True, help="Only a diffstat.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the diff.")
def diff_cmd(target: str, stat: bool, as_json: bool) -> None:
    """Show TARGET's (ws/pane) changes against the commit its worktree started from.

    Covers commits on the agent's branch, uncommitted edits and new files. Only panes of
    templates with `isolation: worktree` have a worktree.

    \b
    Example:
      wzp diff demo/agent-1 --stat
    """
    answer = _diff(target, stat)
    if as_json:
        print_json(answer)
        return
    text = answer.get("diff", "")
    if text:
        echo(text, multiline=True, nl=not text.endswith("\n"))
    if answer.get("truncated"):
        echo(
            f"wzp: diff truncated; see it in full with: git -C {answer['path']} diff "
            f"{answer['base']}",
            err=True,
        )


def _diff(target: str, stat: bool) -> dict[str, Any]:
    """The daemon's diff of ``target``; a pane that does not exist is named as such."""
    try:
        reply = command_request("diff", target=target, stat=stat)
    except HubError as exc:
        known = {p["target"] for p in hub_request("status")["processes"]}
        if exc.exit_code != 3 and target not in known:
            fail(f"no pane {target} (see `wzp list`)")
        fail(exc.message, exc.exit_code)
    return {k: v for k, v in reply.items() if k not in ("v", "id", "ok")}

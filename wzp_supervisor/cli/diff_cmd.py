"""``wzp diff ws/pane``: an agent's changes in its git worktree."""

from __future__ import annotations

import click

from wzp_supervisor.cli.common import echo, hub_request, print_json


@click.command(name="diff")
@click.argument("target")
@click.option("--stat", is_flag=True, help="Only a diffstat.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the diff.")
def diff_cmd(target: str, stat: bool, as_json: bool) -> None:
    """Show TARGET's (ws/pane) changes against the commit its worktree started from.

    Covers commits on the agent's branch, uncommitted edits and new files. Only panes of
    templates with `isolation: worktree` have a worktree.
    """
    answer = hub_request("diff", target=target, stat=stat)
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

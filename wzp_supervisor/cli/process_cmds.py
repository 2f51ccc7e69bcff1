"""Process verbs: ``status``, ``list``, ``start``/``stop``/``restart``/``kill`` and ``signal``.

``status`` and ``list`` are :mod:`wzp_supervisor.cli.status_view`, the same code that serves
their plain forms without click.
"""

from __future__ import annotations

import sys

import click

from wzp_supervisor.cli import status_view
from wzp_supervisor.cli.common import echo, hub_request, json_option, print_json


@click.command()
@json_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "wezterm"]),
    default="table",
    help="wezterm: the one-line summary the WezTerm status bar shows.",
)
@click.argument("target", required=False)
def status(as_json: bool, fmt: str, target: str | None) -> None:
    """Every supervised process with state, pid, uptime and restarts (like circusctl status)."""
    sys.exit(status_view.show_status(target, as_json=as_json, wezterm=fmt == "wezterm"))


@click.command(name="list")
@json_option
def list_processes(as_json: bool) -> None:
    """Supervised processes, one target a line (like circusctl list)."""
    sys.exit(status_view.show_list(as_json))


def _control(action: str, doc: str, short_help: str | None = None) -> click.Command:
    @click.command(name=action, help=doc, short_help=short_help)
    @click.argument("target")
    @json_option
    def command(target: str, as_json: bool) -> None:
        answer = hub_request(f"process.{action}", target=target, socket_timeout=None)
        if as_json:
            print_json(answer)
            return
        for proc in answer["processes"]:
            echo(
                f"{proc['target']}: {proc['state']}"
                + (f" (pid {proc['pid']})" if proc.get("pid") else "")
            )

    return command


start = _control("start", "Start TARGET (ws, ws/pane or all); clears backoff and fatal.")
stop = _control(
    "stop",
    "Stop TARGET (ws, ws/pane or all) gracefully: SIGTERM to the group, SIGKILL after the timeout.",
    "Stop TARGET gracefully (SIGTERM to the group, SIGKILL after the timeout).",
)
restart = _control("restart", "Stop then start TARGET (ws, ws/pane or all).")
kill = _control(
    "kill",
    "Kill the whole process tree of TARGET (ws, ws/pane or all) at once (SIGKILL); it stays "
    "stopped.",
    "Kill TARGET's whole process tree at once (SIGKILL); it stays stopped.",
)


@click.command(name="signal")
@click.argument("target")
@click.argument("signame")
def signal_cmd(target: str, signame: str) -> None:
    """Send a signal such as HUP or USR1 to TARGET's process group (policy still applies)."""
    answer = hub_request("process.signal", target=target, signal=signame)
    echo(f"sent {answer['signal']} to {', '.join(answer['signalled'])}")

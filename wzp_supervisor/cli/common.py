"""Helpers shared by the CLI area modules: hub requests, errors, JSON and colour output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from wzp_supervisor.cli.hub_client import (
    EXIT_FAILED,
    EXIT_NOT_RUNNING,
    HubError,
    command_request,
)
from wzp_supervisor.cli.printable import printable
from wzp_supervisor.cli.tables import human_duration, paint, plural, table, use_colour

EXIT_USAGE = 2
ENVELOPE = ("v", "id", "ok")  # protocol fields, not part of a command's answer

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $XDG_CONFIG_HOME/wezterm-parallel/config.yaml).",
)


def echo(text: str, *, multiline: bool = False, err: bool = False, nl: bool = True) -> None:
    """Print ``text`` with its control characters escaped (:func:`printable`).

    For every line that carries data from the daemon, agents or the user; ``multiline``
    keeps newlines and tabs.
    """
    click.echo(printable(text, multiline), err=err, nl=nl)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``wzp: message`` on stderr (control characters escaped) and exit with ``code``."""
    echo(f"wzp: {message}", multiline=True, err=True)
    sys.exit(code)


def hub_request(kind: str, *, socket_timeout: float | None = 60.0, **fields: Any) -> dict[str, Any]:
    """One request to the daemon; exits 3 when it is not running, 1 on an error reply.

    ``socket_timeout`` (None: wait as long as it takes) is how long to wait for the reply; it
    is not sent, so requests may carry a ``timeout`` field of their own.
    """
    try:
        reply = command_request(kind, socket_timeout=socket_timeout, **fields)
    except HubError as exc:
        fail(exc.message, exc.exit_code)
    return {k: v for k, v in reply.items() if k not in ENVELOPE}


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


__all__ = [
    "EXIT_FAILED",
    "EXIT_NOT_RUNNING",
    "EXIT_USAGE",
    "config_option",
    "echo",
    "fail",
    "hub_request",
    "human_duration",
    "json_option",
    "paint",
    "plural",
    "print_json",
    "printable",
    "table",
    "use_colour",
]

"""Helpers shared by the CLI area modules: hub requests, errors, JSON and colour output."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import click

from wzp_supervisor.client import DaemonNotRunning, HubClient, RequestFailed

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3

STATE_COLOURS = {
    "running": "green",
    "idle": "green",
    "busy": "cyan",
    "starting": "blue",
    "waiting_input": "yellow",
    "backoff": "magenta",
    "fatal": "red",
    "exited": "white",
    "stopped": "white",
    "stopping": "blue",
}


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``wzp: message`` on stderr and exit with ``code``."""
    click.echo(f"wzp: {message}", err=True)
    sys.exit(code)


def hub_request(kind: str, timeout: float | None = 60.0, **fields: Any) -> dict[str, Any]:
    """One request to the daemon; exits 3 when it is not running, 1 on an error reply."""
    try:
        with HubClient(timeout=timeout) as client:
            return client.request(kind, **fields)
    except DaemonNotRunning:
        fail("the wzp daemon is not running; run `wzp up`", EXIT_NOT_RUNNING)
    except RequestFailed as exc:
        fail(exc.message)
    except TimeoutError:
        fail(f"the daemon did not answer {kind!r} in time")
    except (ConnectionError, OSError) as exc:
        fail(f"lost the connection to the daemon: {exc}")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, state: str) -> str:
    """``text`` coloured for ``state`` when stdout is a terminal."""
    if not use_colour():
        return text
    return click.style(text, fg=STATE_COLOURS.get(state, "white"), bold=state == "fatal")


def human_duration(seconds: float | None) -> str:
    """``3s``, ``4m12s``, ``2h05m``, ``3d04h`` (``-`` for None)."""
    if seconds is None:
        return "-"
    secs = int(max(0, seconds))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    if secs < 86400:
        return f"{secs // 3600}h{secs % 3600 // 60:02d}m"
    return f"{secs // 86400}d{secs % 86400 // 3600:02d}h"


def table(rows: list[list[str]], header: list[str], states: list[str] | None = None) -> str:
    """Aligned columns; the second column is coloured by ``states`` when given."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for i, row in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        if states is not None and len(cells) > 1:
            cells[1] = paint(cells[1], states[i])
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)

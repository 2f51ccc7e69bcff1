"""Helpers shared by the CLI area modules: hub requests, errors, JSON and colour output."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from wzp_supervisor.client import DaemonNotRunning, HubClient, RequestFailed

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
ENVELOPE = ("v", "id", "ok")  # protocol fields, not part of a command's answer

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``wzp: message`` on stderr and exit with ``code``."""
    click.echo(f"wzp: {message}", err=True)
    sys.exit(code)


def hub_request(kind: str, *, socket_timeout: float | None = 60.0, **fields: Any) -> dict[str, Any]:
    """One request to the daemon; exits 3 when it is not running, 1 on an error reply.

    ``socket_timeout`` (None: wait as long as it takes) is how long to wait for the reply; it
    is not sent, so requests may carry a ``timeout`` field of their own.
    """
    try:
        with HubClient(timeout=socket_timeout) as client:
            reply = client.request(kind, **fields)
        return {k: v for k, v in reply.items() if k not in ENVELOPE}
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


from wzp_supervisor.render import human_duration, paint, table, use_colour  # noqa: E402

__all__ = [
    "EXIT_FAILED",
    "EXIT_NOT_RUNNING",
    "EXIT_USAGE",
    "fail",
    "hub_request",
    "human_duration",
    "paint",
    "print_json",
    "table",
    "use_colour",
]

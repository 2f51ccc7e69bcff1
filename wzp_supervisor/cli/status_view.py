"""``wzp status`` and ``wzp list``: the one implementation, served with and without click.

Whole-process latency is mostly interpreter start-up and imports, so the plain forms of
these read-only views run from :func:`run` before click is imported; the click commands
call :func:`show_status` and :func:`show_list` too. Standard library only.
"""

from __future__ import annotations

import json
import sys
import time

from wzp_supervisor.cli import hub_client, tables
from wzp_supervisor.cli.printable import printable
from wzp_supervisor.states import shown_since, shown_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

EMPTY = "no supervised processes; create a workspace with `wzp workspace create`"


def run(argv: list[str]) -> int | None:
    """Serve ``argv`` (without the program name) if it is a plain status/list, else None.

    Anything beyond the plain forms (help, --format, unknown options) returns None and goes
    to the click CLI.
    """
    if not argv or argv[0] not in ("status", "list"):
        return None
    words = argv[1:]
    as_json = "--json" in words
    rest = [w for w in words if w != "--json"]
    if any(w.startswith("-") for w in rest) or len(rest) > (1 if argv[0] == "status" else 0):
        return None
    if argv[0] == "list":
        return show_list(as_json)
    return show_status(rest[0] if rest else None, as_json=as_json)


def _error(message: str, code: int) -> int:
    print(printable(f"wzp: {message}", multiline=True), file=sys.stderr)
    return code


def _fetch() -> dict[str, Any] | hub_client.HubError:
    try:
        return hub_client.command_request("status")
    except hub_client.HubError as exc:
        return exc


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def show_status(target: str | None, *, as_json: bool = False, wezterm: bool = False) -> int:
    """Print ``wzp status [TARGET]`` (a table, JSON, or the WezTerm one-liner); exit code.

    Without a target the pools of headless workers follow the processes, one line each."""
    answer = _fetch()
    if isinstance(answer, hub_client.HubError):
        return _error(answer.message, answer.exit_code)
    processes = filter_target(answer["processes"], target)
    if target and target != "all" and not processes:
        return _error(f"no workspace or process named {target!r}", hub_client.EXIT_FAILED)
    pools = list(answer.get("pools") or []) if not target or target == "all" else []
    if as_json:
        _print_json(
            {
                "daemon": answer["daemon"],
                "workspaces": answer["workspaces"],
                "processes": processes,
                "pools": pools,
            }
        )
    elif wezterm:
        from wzp_supervisor.states import one_line

        print(one_line(processes) + tables.pool_bar(pools))
    else:
        sections = [render_processes(processes)] if processes else []
        if pools:
            sections.append("\n".join(tables.pool_lines(pools)))
        print("\n\n".join(sections) if sections else EMPTY)
    return 0


def show_list(as_json: bool = False) -> int:
    """Print ``wzp list``: one target and its shown state a line (or JSON); exit code."""
    answer = _fetch()
    if isinstance(answer, hub_client.HubError):
        return _error(answer.message, answer.exit_code)
    processes = answer["processes"]
    if as_json:
        _print_json({"processes": processes})
        return 0
    for proc in processes:
        print(f"{printable(str(proc['target']))}\t{printable(shown_state(proc))}")
    return 0


def filter_target(processes: list[dict[str, Any]], target: str | None) -> list[dict[str, Any]]:
    """Processes named by ``target`` (``all``/None: every one)."""
    if not target or target == "all":
        return processes
    return [p for p in processes if p["target"] == target or p["workspace"] == target]


def info(proc: Mapping[str, Any]) -> str:
    """The INFO column: next try, exit reason, or what the agent waits for."""
    state = proc["state"]
    if state == "backoff" and proc.get("next_try"):
        wait = max(0.0, proc["next_try"] - time.time())
        return f"next try in {wait:.0f}s (attempt {proc.get('attempt', 0)}): {proc['reason']}"
    if state in ("exited", "fatal", "stopped") and proc.get("reason"):
        return str(proc["reason"])
    if proc.get("agent_reason"):
        return f"{proc['agent_reason']}: {proc.get('agent_message') or ''}".strip(": ")
    return ""


def render_processes(processes: Sequence[Mapping[str, Any]]) -> str:
    """The ``wzp status`` table."""
    rows = []
    states = []
    for proc in processes:
        state = shown_state(proc)
        began = shown_since(proc)  # in the state shown, not since the process started
        since = tables.human_duration(time.time() - began) if began else "-"
        rows.append(
            [
                proc["target"],
                state,
                str(proc["pid"] or "-"),
                tables.human_duration(proc.get("uptime")),
                str(proc["restarts"]),
                since,
                info(proc),
            ]
        )
        states.append(state)
    return tables.table(
        rows, ["target", "state", "pid", "uptime", "restarts", "since", "info"], states
    )

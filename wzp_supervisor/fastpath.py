"""`wzp status` and `wzp list` without click: the commands people and status bars run most.

Whole-process latency is mostly interpreter start-up and imports (DESIGN.md measured 88 % for
circusctl), so these read-only views use only the standard library. Anything beyond the
plain forms (help, --format, unknown options) returns None and goes to the click CLI.
"""

from __future__ import annotations

import json
import sys


def run(argv: list[str]) -> int | None:
    """Serve ``argv`` (without the program name) if it is a plain status/list, else None."""
    if not argv or argv[0] not in ("status", "list"):
        return None
    words = argv[1:]
    as_json = "--json" in words
    rest = [w for w in words if w != "--json"]
    if any(w.startswith("-") for w in rest) or len(rest) > (1 if argv[0] == "status" else 0):
        return None
    from wzp_supervisor import render
    from wzp_supervisor.client import DaemonNotRunning, HubClient, RequestFailed
    from wzp_supervisor.summary import state_of

    try:
        with HubClient(timeout=30) as client:
            answer = client.request("status")
    except DaemonNotRunning:
        print("wzp: the wzp daemon is not running; run `wzp up`", file=sys.stderr)
        return 3
    except (RequestFailed, OSError, ConnectionError) as exc:
        print(f"wzp: {exc}", file=sys.stderr)
        return 1
    target = rest[0] if rest else None
    processes = render.filter_target(answer["processes"], target)
    if target and target != "all" and not processes:
        print(f"wzp: no workspace or process named {target!r}", file=sys.stderr)
        return 1
    if argv[0] == "list":
        if as_json:
            print(json.dumps({"processes": processes}, indent=2, sort_keys=True, default=str))
        else:
            for proc in processes:
                print(f"{proc['target']}\t{state_of(proc)}")
        return 0
    if as_json:
        document = {
            "daemon": answer["daemon"],
            "workspaces": answer["workspaces"],
            "processes": processes,
        }
        print(json.dumps(document, indent=2, sort_keys=True, default=str))
    elif not processes:
        print("no supervised processes; create a workspace with `wzp workspace create`")
    else:
        print(render.render_processes(processes))
    return 0

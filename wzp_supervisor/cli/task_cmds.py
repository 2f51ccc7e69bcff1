"""Task verbs: ``task send|submit|map|list|show|cancel``, ``broadcast`` and ``events``.

Thin: parse, ask the hub, render. ``task send --wait`` asks with ``task.request {wait}`` and
then ``task.wait`` until the task ends or ``--timeout`` passes; each request stays within the
hub's own request timeout, so waits of any length work. A task run by a headless pool
(``task submit --pool``) has a structured result (text, cost, usage, session id, worker);
one typed into an agent has the agent's reply as a plain string.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from wzp_supervisor.cli.common import (
    EXIT_NOT_RUNNING,
    EXIT_USAGE,
    echo,
    fail,
    hub_request,
    human_duration,
    json_option,
    print_json,
    printable,
    table,
)
from wzp_supervisor.cli.hub_client import EXIT_INTERRUPTED
from wzp_supervisor.cli.task_map import calling_workspace, task_map, task_outcome

TASK_COLOURS = {
    "queued": "starting",
    "running": "busy",
    "done": "idle",
    "failed": "fatal",
    "cancelled": "stopped",
}


@click.group()
def task() -> None:
    """Send prompts to agents or pools and follow them: send, submit, map, list, show, cancel."""


def _wait_until_done(
    answer: dict[str, Any], timeout: float | None, started: float
) -> dict[str, Any]:
    """Ask ``task.wait`` until the task ends; exits 1 when ``timeout`` seconds have passed
    since ``started`` (before the first request, which may itself have waited), and 130 on
    ctrl+c, saying that the task goes on."""
    task_id = answer["task"]["id"]
    try:
        while not answer["done"]:
            remaining = None if timeout is None else timeout - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                fail(f"task {task_id} is still {answer['task']['state']} after {timeout:g}s")
            fields: dict[str, Any] = {"task": task_id}
            if remaining is not None:
                fields["timeout"] = remaining
            answer = hub_request("task.wait", socket_timeout=None, **fields)
    except KeyboardInterrupt:
        fail(
            f"interrupted; task {task_id} goes on without you "
            f"(`wzp task show {task_id}`, `wzp task cancel {task_id}`)",
            EXIT_INTERRUPTED,
        )
    return answer


def _print_outcome(answer: dict[str, Any], as_json: bool) -> None:
    """The finished task's answer (or all of it as JSON); exits 1 when it did not succeed."""
    info = answer["task"]
    text, problem = task_outcome(info)
    if as_json:
        print_json(answer)
    elif text is not None:
        echo(text, multiline=True)
    if problem is not None:
        fail(f"task {info['id']} {problem}")


@task.command(name="send")
@click.argument("target")
@click.argument("prompt")
@click.option("--wait", is_flag=True, help="Wait for the agent's answer and print it.")
@click.option("--timeout", type=float, default=None, help="Give up waiting after S seconds.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@json_option
def task_send(
    target: str, prompt: str, wait: bool, timeout: float | None, priority: int, as_json: bool
) -> None:
    """Type PROMPT into agent TARGET (ws/pane) when it is idle; --wait prints the answer."""
    fields: dict[str, Any] = {"target": target, "prompt": prompt, "priority": priority}
    if wait:
        fields["wait"] = True
        if timeout is not None:
            fields["timeout"] = timeout
    started = time.monotonic()
    try:
        answer = hub_request("task.request", socket_timeout=None, **fields)
    except KeyboardInterrupt:
        what = "stopped waiting" if wait else "interrupted"
        fail(f"{what}; the task may be queued (`wzp task list`)", EXIT_INTERRUPTED)
    if not wait:
        if as_json:
            print_json(answer)
        else:
            echo(f"task {answer['task']['id']} {answer['task']['state']} for {target}")
        return
    _print_outcome(_wait_until_done(answer, timeout, started), as_json)


@task.command(name="submit")
@click.argument("prompt")
@click.option(
    "--workspace",
    "-w",
    help="Only agents of this workspace (default: any agent); with --pool, the workspace the "
    "task counts for (default: the pane's, from $WZP_AGENT).",
)
@click.option("--pool", "-p", help="Run it on a headless worker of this pool instead.")
@click.option(
    "--session",
    metavar="new|reuse|ID",
    help="With --pool: a fresh session, a worker's current one, or resume session ID.",
)
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--wait", is_flag=True, help="Wait for the answer and print it.")
@click.option("--timeout", type=float, default=None, help="Give up waiting after S seconds.")
@json_option
def task_submit(
    prompt: str,
    workspace: str | None,
    pool: str | None,
    session: str | None,
    priority: int,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Queue PROMPT for the next idle agent, or a pool's worker (FIFO within a priority)."""
    if session is not None and pool is None:
        fail("--session needs --pool", EXIT_USAGE)
    fields: dict[str, Any] = {"prompt": prompt, "priority": priority}
    if workspace:
        fields["workspace"] = workspace
    if pool is not None:
        fields["pool"] = pool
        pane_workspace = workspace or calling_workspace()
        if pane_workspace:
            fields["workspace"] = pane_workspace
        if session is not None:
            fields["session"] = session
    started = time.monotonic()
    answer = hub_request("task.submit", socket_timeout=None, **fields)
    if wait:
        _print_outcome(_wait_until_done(answer, timeout, started), as_json)
    elif as_json:
        print_json(answer)
    else:
        echo(f"task {answer['task']['id']} queued" + (f" on pool {pool}" if pool else ""))


task.add_command(task_map)


def _where(info: dict[str, Any]) -> str:
    if info.get("agent"):
        return str(info["agent"])
    result = info.get("result")
    if isinstance(result, dict) and result.get("worker"):
        return str(result["worker"])
    if info.get("pool"):
        return f"pool {info['pool']}"
    if info.get("target"):
        return str(info["target"])
    return f"{info['workspace']}/*" if info.get("workspace") else "*"


def _one_line(text: str | None, width: int = 60) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@task.command(name="list")
@click.option("--state", help="Only tasks in this state (queued, running, done, …).")
@click.option("--pool", "-p", help="Only tasks of this pool.")
@json_option
def task_list(state: str | None, pool: str | None, as_json: bool) -> None:
    """Tasks, oldest first."""
    fields: dict[str, Any] = {"state": state} if state else {}
    if pool:
        fields["pool"] = pool
    answer = hub_request("task.list", **fields)
    if as_json:
        print_json(answer)
        return
    tasks = answer["tasks"]
    if not tasks:
        click.echo("no tasks")
        return
    now = time.time()
    rows = [
        [
            t["id"],
            t["state"],
            _where(t),
            str(t["priority"]),
            human_duration(now - t["created"]),
            _one_line(t["prompt"]),
        ]
        for t in tasks
    ]
    states = [TASK_COLOURS.get(t["state"], t["state"]) for t in tasks]
    click.echo(table(rows, ["id", "state", "agent", "prio", "age", "prompt"], states))


@task.command(name="show")
@click.argument("task_id")
@json_option
def task_show(task_id: str, as_json: bool) -> None:
    """Everything about task TASK_ID, with its result."""
    info = hub_request("task.show", task=task_id)["task"]
    if as_json:
        print_json({"task": info})
        return
    keys = ("id", "state", "kind", "pool", "agent", "target", "workspace", "priority", "attempts")
    for key in keys:
        if info.get(key) is not None:
            echo(f"{key + ':':10} {info[key]}")
    for key in ("created", "started", "finished"):
        if info.get(key):
            click.echo(f"{key + ':':10} {time.strftime('%H:%M:%S', time.localtime(info[key]))}")
    result = info.get("result")
    if isinstance(result, dict):
        for key, value in _result_details(result, info.get("agent")):
            echo(f"{key + ':':10} {value}")
    if info.get("error"):
        echo(f"{'error:':10} {info['error']}")
    echo(f"prompt:\n{info['prompt']}", multiline=True)
    text = result.get("text") if isinstance(result, dict) else result
    if text is not None:
        echo(f"result:\n{text}", multiline=True)


def _result_details(result: dict[str, Any], agent: str | None) -> list[tuple[str, str]]:
    """The lines ``task show`` prints for a pool task's structured result."""
    details: list[tuple[str, str]] = []
    if result.get("worker") and result["worker"] != agent:
        details.append(("worker", str(result["worker"])))
    if result.get("session_id"):
        details.append(("session", str(result["session_id"])))
    if result.get("worktree"):
        details.append(("worktree", str(result["worktree"])))
    if isinstance(result.get("cost_usd"), int | float):
        details.append(("cost", f"${result['cost_usd']:.4f}"))
    if isinstance(result.get("duration_s"), int | float):
        details.append(("duration", f"{result['duration_s']:.2f}s"))
    if result.get("is_error"):
        details.append(("outcome", f"error ({result.get('subtype') or 'unknown'})"))
    return details


@task.command(name="cancel")
@click.argument("task_id")
def task_cancel(task_id: str) -> None:
    """Cancel task TASK_ID (a running one is let go; its result is dropped)."""
    answer = hub_request("task.cancel", task=task_id)
    echo(f"task {answer['task']['id']} cancelled (was {answer['was']})")


@click.command()
@click.argument("text")
@click.option("--workspace", "-w", help="Only agents of this workspace.")
@json_option
def broadcast(text: str, workspace: str | None, as_json: bool) -> None:
    """Send TEXT to every agent: at once to idle ones, queued for busy ones."""
    fields: dict[str, Any] = {"text": text}
    if workspace:
        fields["workspace"] = workspace
    answer = hub_request("broadcast", **fields)
    if as_json:
        print_json(answer)
        return
    if not answer["tasks"]:
        click.echo("no agents to send to")
        return
    if answer["delivered"]:
        echo(f"sent to {', '.join(answer['delivered'])}")
    if answer["queued"]:
        doing = answer.get("states") or {}
        queued = ", ".join(f"{t} ({doing.get(t, 'busy')})" for t in answer["queued"])
        echo(f"queued for {queued}")


def _event_value(key: str, value: Any) -> str:
    """One field of an event as shown: durations as ``0.46s``, text on one line."""
    if isinstance(value, float) and (
        key in ("duration", "uptime", "elapsed") or key.endswith(("_duration", "_s", "_seconds"))
    ):
        return f"{value:.2f}s"
    if isinstance(value, float) and (key in ("since", "next_try") or key.endswith("_at")):
        return time.strftime("%H:%M:%S", time.localtime(value))
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _render_event(event: dict[str, Any]) -> str:
    """One line per event (newlines and control characters escaped when printed)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(float(event.get("ts", 0))))
    skip = {"seq", "ts", "event", "topic"}
    rest = " ".join(
        f"{k}={_event_value(k, v)}" for k, v in event.items() if k not in skip and v is not None
    )
    return printable(f"{stamp} {event.get('event')} {rest}".rstrip())


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new events.")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="How many recent events to show.",
)
@click.option("--topic", "topics", multiple=True, help="Only these topics or event names.")
@json_option
def events(follow: bool, limit: int, topics: tuple[str, ...], as_json: bool) -> None:
    """Workspace, process, state and task events (JSON lines with --json)."""

    def show(event: dict[str, Any]) -> None:
        if topics and event.get("event") not in topics and event.get("topic") not in topics:
            return
        if as_json:
            click.echo(json.dumps(event, sort_keys=True))
        else:
            echo(_render_event(event))

    if not follow:
        for event in hub_request("events.recent", limit=limit)["events"]:
            show(event)
        return
    from wzp_supervisor.cli.hub_client import (
        DaemonNotRunning,
        HubClient,
        RequestFailed,
        UnsafeHub,
    )

    try:
        with HubClient(timeout=None) as client:
            fields: dict[str, Any] = {"topics": list(topics)} if topics else {}
            client.request("subscribe", **fields)
            if sys.stderr.isatty() or os.environ.get("WZP_EVENTS_ANNOUNCE"):
                click.echo("wzp: following events (ctrl+c to stop)", err=True)
            for event in client.events():
                show(event)
    except DaemonNotRunning:
        fail("the wzp daemon is not running; run `wzp up`", EXIT_NOT_RUNNING)
    except RequestFailed as exc:
        fail(exc.message)
    except UnsafeHub as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return
    fail("the daemon closed the event stream")

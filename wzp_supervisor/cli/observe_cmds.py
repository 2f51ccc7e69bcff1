"""Observe verbs: ``stats``, ``top``, ``dashboard``, ``metrics``. Heavy imports stay inside."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from wzp_supervisor.cli.common import (
    echo,
    fail,
    hub_request,
    human_duration,
    plural,
    print_json,
    table,
)


def _bytes(n: Any) -> str:
    from wzp_supervisor.states import human_bytes

    return human_bytes(int(n or 0))


def _shown_state(proc: dict[str, Any]) -> str:
    if proc.get("state") == "running" and proc.get("agent_state"):
        return str(proc["agent_state"])
    return str(proc.get("state"))


def render_stats(answer: dict[str, Any], sort: str = "target") -> str:
    """The resource table of a ``stats`` reply, with a totals line."""
    procs = list(answer["processes"])
    if sort == "cpu":
        procs.sort(key=lambda p: (-float(p.get("cpu") or 0), str(p["target"])))
    elif sort == "mem":
        procs.sort(key=lambda p: (-int(p.get("rss") or 0), str(p["target"])))
    rows = []
    states = []
    for proc in procs:
        state = _shown_state(proc)
        rows.append(
            [
                str(proc["target"]),
                state,
                str(proc.get("pid") or "-"),
                f"{float(proc.get('cpu') or 0):.1f}%",
                _bytes(proc.get("rss")),
                str(proc.get("nprocs") or 0),
                human_duration(proc.get("uptime")),
                str(proc.get("restarts") or 0),
            ]
        )
        states.append(state)
    text = table(
        rows, ["target", "state", "pid", "cpu", "mem", "procs", "uptime", "restarts"], states
    )
    totals = answer["totals"]
    daemon = answer["daemon"]
    return (
        f"{text}\n\n{plural(len(procs), 'process', 'processes')}: cpu {totals['cpu']:.1f}% "
        f"mem {_bytes(totals['rss'])} in {plural(int(totals['nprocs']), 'process', 'processes')}; "
        f"daemon pid {daemon['pid']} cpu {daemon['cpu']:.1f}% "
        f"mem {_bytes(daemon['rss'])}"
    )


def render_stats_and_pools(answer: dict[str, Any], sort: str = "target") -> str:
    """The process table of a ``stats`` reply (when there are processes) followed by the pool
    table of its ``pools`` (when there are pools); empty when there is neither."""
    from wzp_supervisor.cli.tables import pool_table

    sections = [render_stats(answer, sort)] if answer["processes"] else []
    if answer.get("pools"):
        sections.append(pool_table(answer["pools"]))
    return "\n\n".join(sections)


def _with_pools(answer: dict[str, Any], request: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """A ``stats`` reply without its envelope, with the ``pools`` of ``pool.list`` added."""
    for key in ("ok", "id", "v"):
        answer.pop(key, None)
    answer["pools"] = request("pool.list")["pools"]
    return answer


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--sort", type=click.Choice(["target", "cpu", "mem"]), default="target", show_default=True
)
def stats(as_json: bool, sort: str) -> None:
    """CPU, memory and process count of every supervised process tree, and the pools."""
    answer = _with_pools(hub_request("stats"), hub_request)
    if as_json:
        print_json(answer)
        return
    text = render_stats_and_pools(answer, sort)
    if not text:
        click.echo("no supervised processes; create a workspace with `wzp workspace create`")
        return
    click.echo(text)


@click.command()
@click.option("--count", "-n", type=click.IntRange(min=1), help="Stop after N updates (as top -n).")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between updates.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document a line per update.")
def top(interval: float, count: int | None, as_json: bool) -> None:
    """A live view of the processes using the most cpu (Ctrl-C to quit)."""
    from wzp_supervisor.cli.hub_client import (
        DaemonNotRunning,
        HubClient,
        RequestFailed,
        UnsafeHub,
    )

    interval = max(0.2, interval)
    shown = 0
    try:
        with HubClient(timeout=10.0) as client:
            if as_json:
                while count is None or shown < count:
                    answer = _with_pools(client.request("stats"), client.request)
                    click.echo(json.dumps({"ts": time.time(), **answer}, default=str))
                    sys.stdout.flush()
                    shown += 1
                    if count is None or shown < count:
                        time.sleep(interval)
                return
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            def frame() -> Text:
                answer = _with_pools(client.request("stats"), client.request)
                stamp = time.strftime("%H:%M:%S")
                body = render_stats_and_pools(answer, "cpu") or "no processes"
                return Text(f"wzp top  {stamp}  (every {interval:g}s, Ctrl-C quits)\n\n{body}")

            console = Console()
            with Live(frame(), console=console, auto_refresh=False, screen=False) as live:
                shown = 1
                while count is None or shown < count:
                    time.sleep(interval)
                    live.update(frame(), refresh=True)
                    shown += 1
    except KeyboardInterrupt:
        return
    except DaemonNotRunning:
        fail("the wzp daemon is not running; run `wzp up`", 3)
    except UnsafeHub as exc:
        fail(str(exc))
    except RequestFailed as exc:
        fail(exc.message)
    except (ConnectionError, OSError) as exc:
        fail(f"lost the connection to the daemon: {exc}")


@click.command()
def dashboard() -> None:
    """The control pane: every agent live; keys restart, stop, peek, attach, jump to waiting."""
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        fail("the dashboard needs a terminal (try `wzp top` or `wzp status`)", 2)
    from wzp_supervisor.cli.dashboard import Dashboard

    sys.exit(Dashboard().run())


@click.command()
def metrics() -> None:
    """Print the Prometheus metrics (the same text as the metrics endpoint)."""
    echo(hub_request("metrics")["text"], multiline=True, nl=False)

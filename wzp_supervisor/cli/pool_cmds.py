"""``wzp pool list`` (also ``wzp pools``): headless worker pools, their workers and queues."""

from __future__ import annotations

import time
from typing import Any

import click

from wzp_supervisor.cli.common import echo, hub_request, json_option, plural, print_json, table


def rate_limit_note(until: Any, now: float | None = None) -> str | None:
    """``rate-limited until 14:05`` while ``until`` (epoch seconds) is still ahead, else None."""
    if not isinstance(until, int | float) or isinstance(until, bool):
        return None
    if until <= (time.time() if now is None else now):
        return None
    return f"rate-limited until {time.strftime('%H:%M', time.localtime(until))}"


def _cost(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) else "-"


def pool_summary(pool: dict[str, Any]) -> str:
    """One line about a pool: workers (busy), bounds, queue, and its rate limit."""
    workers = pool.get("workers") or []
    busy = sum(1 for w in workers if w.get("state") == "busy")
    parts = [
        f"pool {pool['name']}: {plural(len(workers), 'worker')} ({busy} busy,"
        f" min {pool.get('min')}, max {pool.get('max')})",
        f"{pool.get('queued', 0)} queued",
        f"{pool.get('running', 0)} running",
    ]
    note = rate_limit_note(pool.get("rate_limited_until"))
    if note:
        parts.append(note)
    return ", ".join(parts)


def render_pools(pools: list[dict[str, Any]]) -> str:
    """Each pool's summary line and a table of its workers."""
    blocks = []
    for pool in pools:
        lines = [pool_summary(pool)]
        workers = pool.get("workers") or []
        if workers:
            rows = [
                [
                    str(w.get("name")),
                    str(w.get("state")),
                    str(w.get("pid") or "-"),
                    str(w.get("turns", 0)),
                    _cost(w.get("cost_usd")),
                    str(w.get("session_id") or "-"),
                ]
                for w in workers
            ]
            states = [str(w.get("state")) for w in workers]
            header = ["worker", "state", "pid", "turns", "cost", "session"]
            lines.extend("  " + row for row in table(rows, header, states).splitlines())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _show_pools(as_json: bool) -> None:
    answer = hub_request("pool.list")
    if as_json:
        print_json(answer)
        return
    pools = answer.get("pools") or []
    if not pools:
        click.echo("no pools (define them under pools.<name> in the config)")
        return
    # table() escaped the worker cells; the summary lines carry names from the config
    for line in render_pools(pools).splitlines():
        if line.startswith("  "):
            click.echo(line)
        else:
            echo(line)


@click.group()
def pool() -> None:
    """Headless worker pools that run tasks (`wzp task submit --pool`, `task map`)."""


@pool.command(name="list")
@json_option
def pool_list(as_json: bool) -> None:
    """Every pool: its workers (state, pid, turns, cost, session), queue and rate limit."""
    _show_pools(as_json)


@click.command()
@json_option
def pools(as_json: bool) -> None:
    """Every pool, its workers and queue (same as `wzp pool list`)."""
    _show_pools(as_json)

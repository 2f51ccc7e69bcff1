"""Text tables the CLI prints: aligned columns, state colours and short durations.

Standard library only: ``wzp status`` renders through here on its fast path, without click.
"""

from __future__ import annotations

import os
import sys
import time

from wzp_supervisor.cli.printable import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_ANSI = {"green": 32, "cyan": 36, "blue": 34, "yellow": 33, "magenta": 35, "red": 31, "white": 37}
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


def use_colour() -> bool:
    """Colour only on a terminal, and never with NO_COLOR set."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, state: str, colour: bool | None = None) -> str:
    """``text`` in the colour of ``state`` (when ``colour``, default: stdout is a terminal)."""
    if not (use_colour() if colour is None else colour):
        return text
    code = _ANSI[STATE_COLOURS.get(state, "white")]
    bold = "1;" if state == "fatal" else ""
    return f"\033[{bold}{code}m{text}\033[0m"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 template``, ``2 templates``, ``0 processes`` (``words``: the plural form)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


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
    """Aligned columns; the second column is coloured by ``states`` when given.

    Cells are shown with their control characters escaped (:func:`printable`).
    """
    header = [printable(h) for h in header]
    rows = [[printable(c) for c in row] for row in rows]
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


def paused_until(pool: Mapping[str, Any], now: float | None = None) -> str | None:
    """``HH:MM`` (local time) until which a rate limit pauses a pool entry's dispatch; None
    when it is not paused, or the pause is over at ``now`` (default: the current time)."""
    epoch = pool.get("rate_limited_until")
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return None
    if epoch <= (time.time() if now is None else now):
        return None
    return time.strftime("%H:%M", time.localtime(epoch))


def _worker_counts(pool: Mapping[str, Any]) -> tuple[int, int, int]:
    """Workers of a pool entry: alive, busy, idle."""
    states = [str(w.get("state")) for w in pool.get("workers") or []]
    return len(states), states.count("busy"), states.count("idle")


def pool_lines(pools: Sequence[Mapping[str, Any]], now: float | None = None) -> list[str]:
    """One line a pool (``pool.list`` entries): workers of max, busy and idle, queued and
    running tasks, and the rate-limit pause; names shown with control characters escaped."""
    lines = []
    for pool in pools:
        alive, busy, idle = _worker_counts(pool)
        line = (
            f"pool {pool.get('name')}: {alive}/{pool.get('max')} workers "
            f"({busy} busy, {idle} idle), {pool.get('queued', 0)} queued, "
            f"{pool.get('running', 0)} running"
        )
        until = paused_until(pool, now)
        if until is not None:
            line += f", rate-limited until {until}"
        lines.append(printable(line))
    return lines


def pool_bar(pools: Sequence[Mapping[str, Any]], now: float | None = None) -> str:
    """The pools as the WezTerm status bar shows them after the agent counts:
    `` | pool review 1/4 q3`` (busy workers of max, tasks queued) a pool, with
    `` rate-limited until 14:05`` while paused; empty without pools."""
    parts = []
    for pool in sorted(pools, key=lambda p: str(p.get("name"))):
        _, busy, _ = _worker_counts(pool)
        part = f" | pool {pool.get('name')} {busy}/{pool.get('max')} q{pool.get('queued', 0)}"
        until = paused_until(pool, now)
        if until is not None:
            part += f" rate-limited until {until}"
        parts.append(printable(part))
    return "".join(parts)


def pool_cost(pool: Mapping[str, Any]) -> float:
    """Dollars a pool's turns have cost since the daemon started (stopped workers included)."""
    return float(pool.get("cost_usd") or 0.0)


def pool_table(pools: Sequence[Mapping[str, Any]], now: float | None = None) -> str:
    """The pool table of ``wzp stats`` and ``wzp top``."""
    rows = []
    for pool in pools:
        alive, busy, idle = _worker_counts(pool)
        until = paused_until(pool, now)
        rows.append(
            [
                str(pool.get("name")),
                f"{alive}/{pool.get('max')}",
                str(busy),
                str(idle),
                str(pool.get("queued", 0)),
                str(pool.get("running", 0)),
                f"${pool_cost(pool):.4f}",
                f"until {until}" if until else "-",
            ]
        )
    header = ["pool", "workers", "busy", "idle", "queued", "running", "cost", "rate-limited"]
    return table(rows, header)

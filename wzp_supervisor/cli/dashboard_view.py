"""What ``wzp dashboard`` draws: the table of workspaces and agents, the pools below it, the
peeked screen and the key help, as one rich renderable built from a ``status`` reply."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wzp_supervisor.cli.printable import printable
from wzp_supervisor.cli.tables import paused_until, plural, pool_lines
from wzp_supervisor.states import human_bytes, one_line, shown_state

STATE_STYLES = {
    "running": "green",
    "idle": "green",
    "busy": "cyan",
    "starting": "blue",
    "waiting_input": "bold yellow",
    "backoff": "magenta",
    "fatal": "bold red",
    "exited": "white",
    "stopped": "dim",
    "stopping": "blue",
}
HELP = (
    "↑↓ select  r restart  s stop  t start  p peek  a attach  y yes  n no  A always"
    "  w oldest waiting  q quit"
)


def _since(ts: Any, now: float) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return "-"
    secs = int(max(0.0, now - ts))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    return f"{secs // 3600}h{secs % 3600 // 60:02d}m"


def _reason(proc: dict[str, Any]) -> str:
    state = shown_state(proc)
    if proc.get("state") == "running" and proc.get("agent_state"):
        parts = [proc.get("agent_reason"), proc.get("agent_message")]
        return printable(": ".join(str(p) for p in parts if p))
    if state in ("exited", "fatal", "backoff", "stopped"):
        return printable(str(proc.get("reason") or ""))
    return ""


def _task(proc: dict[str, Any]) -> str:
    task = proc.get("task")
    if isinstance(task, dict):
        return printable(str(task.get("prompt") or task.get("id") or "")[:40])
    return printable(str(task)[:40]) if task else ""


def rows_of(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Processes in display order: by workspace, then pane name."""
    procs = list(status.get("processes", []))
    return sorted(procs, key=lambda p: (str(p.get("workspace")), str(p.get("target"))))


def render(
    status: Mapping[str, Any],
    selected: int,
    message: str,
    peek: tuple[str, str] | None,
    now: float | None = None,
    height: int | None = None,
) -> RenderableType:
    """The whole screen as a rich renderable: row ``selected`` marked, ``message`` above the
    key help, ``peek`` (target, screen text) in a panel below; ``height`` (terminal lines)
    limits the table to a window of rows around the selected one."""
    now = time.time() if now is None else now
    peek_target, peek_text = peek if peek is not None else (None, None)
    rows = rows_of(status)
    lines: list[tuple[int, dict[str, Any]] | str] = []  # agent rows and workspace titles
    for index, proc in enumerate(rows):
        if index == 0 or proc.get("workspace") != rows[index - 1].get("workspace"):
            lines.append(str(proc.get("workspace")))
        lines.append((index, proc))
    hidden_above = hidden_below = 0
    if height is not None:
        peek_lines = (peek_text or "").count("\n") + 3 if peek_text else 0
        pool_count = len(status.get("pools") or [])
        budget = max(3, height - 8 - peek_lines - pool_count)
        if len(lines) > budget:
            at = next(i for i, line in enumerate(lines) if line[0] == selected)
            start = min(max(0, at - budget // 2), len(lines) - budget)
            hidden_above, hidden_below = start, len(lines) - start - budget
            lines = lines[start : start + budget]
    table = Table(expand=True, box=None, header_style="bold", pad_edge=False)
    for name, kwargs in (
        ("", {"width": 1}),
        ("agent", {"no_wrap": True}),
        ("state", {"no_wrap": True}),
        ("since", {"justify": "right"}),
        ("cpu", {"justify": "right"}),
        ("mem", {"justify": "right"}),
        ("restarts", {"justify": "right"}),
        ("reason", {"ratio": 2, "overflow": "ellipsis", "no_wrap": True}),
        ("task", {"ratio": 1, "overflow": "ellipsis", "no_wrap": True}),
    ):
        table.add_column(name, **kwargs)
    for line in lines:
        if isinstance(line, str):
            table.add_row("", Text(printable(line), style="bold underline"))
            continue
        index, proc = line
        state = shown_state(proc)
        since = proc.get("agent_since") if proc.get("agent_state") else proc.get("since")
        mark = "▶" if index == selected else ""
        table.add_row(
            mark,
            Text(printable(f"  {proc.get('pane')}"), style="reverse" if mark else ""),
            Text(printable(state), style=STATE_STYLES.get(state, "")),
            _since(since, now),
            f"{float(proc.get('cpu') or 0):.1f}%",
            human_bytes(int(proc.get("rss") or 0)),
            str(proc.get("restarts", 0)),
            _reason(proc),
            _task(proc),
        )
    daemon = status.get("daemon") or {}
    agents = [proc for proc in rows if proc.get("kind", "claude") != "none"]
    others = len(rows) - len(agents)
    counts = [
        plural(len(status.get("workspaces", [])), "workspace"),
        plural(len(agents), "agent"),
    ]
    if others:
        counts.append(plural(others, "other pane"))
    title = printable(
        f"wezterm-parallel · {' · '.join(counts)} · daemon pid {daemon.get('pid', '-')}"
    )
    header = Text(one_line(agents), style="bold")
    parts: list[RenderableType] = [header]
    if hidden_above:
        parts.append(Text(f"  ↑ {hidden_above} more lines", style="dim"))
    parts.append(table)
    if hidden_below:
        parts.append(Text(f"  ↓ {hidden_below} more lines", style="dim"))
    pools = list(status.get("pools") or [])
    for pool, line in zip(pools, pool_lines(pools, now), strict=True):
        paused = paused_until(pool, now) is not None  # a pause already over is not shown
        parts.append(Text(line, style="bold yellow" if paused else ""))
    if not rows and not pools:
        parts.append(Text("no agents; create a workspace with `wzp workspace create`"))
    if peek_text is not None:
        screen = Text(printable(peek_text, multiline=True))
        parts.append(Panel(screen, title=f"peek {peek_target}", expand=True))
    footer = Text(HELP, style="dim")
    if message:
        footer = Text.assemble((printable(message), "bold"), "   ", (HELP, "dim"))
    parts.append(footer)
    return Panel(Group(*parts), title=title, border_style="blue")

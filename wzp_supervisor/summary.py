"""The one-line pool summary shown in the WezTerm status bar and by `wzp status --format wezterm`.

Standard library only. The Lua plugin renders the same text from status.json.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ORDER = ("waiting_input", "busy", "idle", "running", "starting", "backoff", "fatal")
SYMBOLS = {
    "waiting_input": "⚡",
    "busy": "●",
    "idle": "○",
    "running": "▶",
    "starting": "…",
    "backoff": "↻",
    "fatal": "✖",
}
LABELS = {"waiting_input": "waiting"}


def state_of(proc: Mapping[str, Any]) -> str:
    """The state a process is shown in: the agent state while its process runs."""
    if proc.get("state") == "running" and proc.get("agent_state"):
        return str(proc["agent_state"])
    return str(proc.get("state", "stopped"))


def counts(processes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for proc in processes:
        state = state_of(proc)
        totals[state] = totals.get(state, 0) + 1
    return totals


def one_line(
    processes: Iterable[Mapping[str, Any]], cpu: float | None = None, rss: int | None = None
) -> str:
    """e.g. ``⚡2 waiting ●3 busy ○1 idle ✖0 | cpu 34% mem 2.1G``.

    Without ``cpu``/``rss`` the sums of the processes' own ``cpu``/``rss`` fields are shown
    (the daemon's sampler adds them to status listings), when present.
    """
    processes = list(processes)
    if cpu is None and rss is None and any("rss" in p for p in processes):
        cpu = sum(float(p.get("cpu") or 0.0) for p in processes)
        rss = sum(int(p.get("rss") or 0) for p in processes)
    totals = counts(processes)
    parts = [f"{SYMBOLS['waiting_input']}{totals.get('waiting_input', 0)} waiting"]
    for state in ORDER[1:]:
        if totals.get(state) or state in ("busy", "idle", "fatal"):
            parts.append(f"{SYMBOLS[state]}{totals.get(state, 0)} {LABELS.get(state, state)}")
    text = " ".join(parts)
    if cpu is not None and rss is not None:
        text += f" | cpu {cpu:.0f}% mem {human_bytes(rss)}"
    return text


def human_bytes(n: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit in ("B", "K") else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}G"

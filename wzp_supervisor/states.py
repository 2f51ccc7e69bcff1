"""Every process and agent state, how they group, and the one rule for the state shown.

Standard library only: the CLI's fast path, the daemon, status.json, metrics, the dashboard
and (through a mirrored table checked by the tests) the Lua plugin all use this vocabulary.

A supervised process has a *process state* (supervision: starting, running, stopping,
stopped, backoff, fatal, exited). A Claude agent also has an *agent state* from its hooks
(starting, busy, waiting_input, idle) while its process runs. The *shown state* is the agent
state while the process runs, else the process state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict

ProcessState = Literal["starting", "running", "stopping", "stopped", "backoff", "fatal", "exited"]
PROCESS_STATES: tuple[ProcessState, ...] = (
    "starting",
    "running",
    "stopping",
    "stopped",
    "backoff",
    "fatal",
    "exited",
)
"""Every state of a supervised process."""

PoolWorkerState = Literal["starting", "idle", "busy", "stopping"]
POOL_WORKER_STATES: tuple[PoolWorkerState, ...] = ("starting", "idle", "busy", "stopping")
"""Every state of a headless pool worker (``pool.list``, the ``pools`` of status and
status.json): started but not yet given work, waiting for a task, running one, going away."""

AGENT_STATES = (
    "starting",
    "busy",
    "waiting_input",
    "stalled",
    "error",
    "idle",
    "exited",
    "backoff",
    "fatal",
    "stopped",
)
"""Every state an agent can be in (hook-driven ones, then those supervision gives it).

``stalled``: busy with no output, hook or progress for ``stall_after`` seconds (health
checks). ``error``: the last turn ended in an API error (Claude Code's StopFailure); the agent
is back at its prompt."""

STATE_SOURCES = ("hook", "progress", "screen", "health", "supervision")
"""What set an agent state: a Claude Code hook, the terminal progress (OSC 9;4) the holder
saw, the holder's screen model, a health check, or supervision (start, exit, backoff)."""

READY_STATES = frozenset({"idle", "error"})
"""Agent states in which the agent's prompt is ready for the next task."""

LIVE_PROCESS_STATES = frozenset({"running", "starting"})
"""Process states in which an agent's hook events are believed."""

SHOWN_STATES = (
    "starting",
    "busy",
    "waiting_input",
    "idle",
    "running",
    "exited",
    "backoff",
    "fatal",
    "stopped",
)
"""Every shown state, in display order (the keys of status.json ``totals``)."""

FOLDED = {"stopping": "stopped", "stalled": "waiting_input", "error": "waiting_input"}
"""Shown states counted under another key (status.json ``totals``, metrics): ``stalled`` and
``error`` need the user like ``waiting_input`` does; each agent's own entry keeps its state."""

GROUPS: dict[str, tuple[str, ...]] = {
    "attention": ("waiting_input", "stalled", "error"),
    "working": ("busy", "starting", "running"),
    "idle": ("idle",),
    "down": ("fatal", "backoff", "exited", "stopped", "stopping"),
}
"""Which shown states answer "needs me now", "working", "idle" and "down"."""

ALERT_STATES = ("waiting_input", "stalled", "error", "fatal")
"""States whose arrival is recorded as a transition (toasts, desktop notifications)."""

SUPERVISION_EVENT_STATES = {
    "ProcessStarted": "starting",
    "ProcessExited": "exited",
    "ProcessFatal": "fatal",
    "ProcessStopped": "stopped",
}
"""Supervision event → the state it puts a process (and its agent) in."""

SUMMARY_ORDER = (
    "waiting_input",
    "stalled",
    "error",
    "busy",
    "idle",
    "running",
    "starting",
    "backoff",
    "fatal",
)
SYMBOLS = {
    "waiting_input": "⚡",
    "stalled": "⧗",
    "error": "⚠",
    "busy": "●",
    "idle": "○",
    "running": "▶",
    "starting": "…",
    "backoff": "↻",
    "fatal": "✖",
}
LABELS = {"waiting_input": "waiting"}


class ProcessInfo(TypedDict, total=False):
    """One supervised process as listed (``status``), then decorated by the daemon's features.

    The process table fills the first block; the other keys are added by features: agent
    states (``agent_*``, ``session_id``), tasks (``task``), the sampler (``cpu``, ``rss``,
    ``nprocs``) and worktrees (``worktree``, ``branch``).
    """

    target: str
    workspace: str
    pane: str
    kind: str | None
    state: str
    since: float
    desired: str
    pid: int | None
    uptime: float | None
    restarts: int
    exit_code: int | None
    next_try: float | None
    attempt: int
    reason: str
    restart_policy: str
    command: list[str]
    cwd: str
    agent_state: str | None  # None for panes that are not agents
    agent_since: float | None
    agent_reason: str | None
    agent_message: str | None
    agent_source: str | None
    permission_mode: str | None
    session_id: str | None
    task: str | None
    task_prompt: str | None
    cpu: float
    rss: int
    nprocs: int
    worktree: str
    branch: str


def shown_state(proc: Mapping[str, Any]) -> str:
    """The state a process is shown in: the agent state while its process runs."""
    if proc.get("state") == "running" and proc.get("agent_state"):
        return str(proc["agent_state"])
    return str(proc.get("state", "stopped"))


def shown_since(proc: Mapping[str, Any]) -> float:
    """When the shown state began (the agent state's start while the process runs)."""
    agent_shown = proc.get("state") == "running" and bool(proc.get("agent_state"))
    since = proc.get("agent_since") if agent_shown else proc.get("since")
    return float(since or proc.get("since") or 0.0)


def group_of(state: str) -> str:
    """The group (attention, working, idle, down) of a shown state."""
    for group, members in GROUPS.items():
        if state in members:
            return group
    return "down"


def counts(processes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many processes are shown in each state."""
    totals: dict[str, int] = {}
    for proc in processes:
        state = shown_state(proc)
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
    for state in SUMMARY_ORDER[1:]:
        if totals.get(state) or state in ("busy", "idle", "fatal"):
            parts.append(f"{SYMBOLS[state]}{totals.get(state, 0)} {LABELS.get(state, state)}")
    text = " ".join(parts)
    if cpu is not None and rss is not None:
        text += f" | cpu {cpu:.0f}% mem {human_bytes(rss)}"
    return text


def human_bytes(n: float) -> str:
    """``512B``, ``12K``, ``3.4M``, ``2.1G``."""
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit in ("B", "K") else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}G"

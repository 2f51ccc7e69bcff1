"""A pool's bookkeeping: its workers and pause, which idle worker takes a task, what a worker's
environment is, and how a pool is listed. No I/O: ``pools.Pools`` acts on it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from wzp_supervisor.agent_environment import agent_environment
from wzp_supervisor.config import PoolConfig
from wzp_supervisor.pool_worker import Worker
from wzp_supervisor.states import PoolWorkerState
from wzp_supervisor.templates import PaneSpec

STOP_GRACE_S = 3.0
"""Seconds a worker has to exit after its stdin is closed, before it is terminated."""


class WorkerEntry(TypedDict):
    """One worker in ``pool.list``."""

    name: str
    pid: int
    state: PoolWorkerState
    turns: int
    cost_usd: float
    session_id: str | None
    worktree: str | None


class PoolEntry(TypedDict):
    """One pool in ``pool.list`` (and the ``pools`` of ``status``)."""

    name: str
    min: int
    max: int
    workers: list[WorkerEntry]
    queued: int
    running: int
    running_per_workspace: dict[str, int]
    cost_usd: float
    rate_limited_until: float | None


@dataclass
class Pool:
    """One pool's workers and dispatch state."""

    config: PoolConfig
    workers: dict[str, Worker] = field(default_factory=dict)  # by watcher name
    next_index: int = 1
    rate_limited_until: float | None = None  # epoch seconds
    failures: int = 0  # workers in a row that died before their first turn
    spawn_after: float = 0.0  # monotonic: no spawn before (backoff after failed starts)
    hold_spares: bool = False  # a worker ended by itself and the restart policy says no
    starting: int = 0  # workers being prepared (their worktree made) before they spawn
    cost_usd: float = 0.0  # every turn's cost since the daemon started, reaped workers too

    @property
    def name(self) -> str:
        return self.config.name

    def alive(self) -> int:
        """Workers running or being prepared."""
        return len(self.workers) + self.starting

    def busy(self) -> int:
        return sum(1 for w in self.workers.values() if w.state == "busy")


def pool_environment(
    cfg: PoolConfig, worker: str, daemon_env: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """A worker's environment, built like an agent pane's (credentials included)."""
    spec = PaneSpec(
        workspace=f"pool-{cfg.name}",
        pane=worker.rpartition("/")[2],
        target=worker,
        position="",
        argv=(),
        agent="claude",
        supervised=True,
        shell=False,
        cwd=cfg.cwd or Path.home(),
        environment=cfg.environment,
        restart_policy=cfg.restart_policy,
        min_uptime=0.0,
        max_retries=0,
        backoff_max=0.0,
        graceful_timeout=STOP_GRACE_S,
        rlimits={},
        isolation="none",
    )
    return agent_environment(spec, daemon_env)


def idle_worker(pool: Pool, session: str | None) -> Worker | None:
    """The idle worker that may take a task asking for ``session`` (``None``/``reuse``: any;
    ``new``: one that has not taken a turn; else the one holding that session)."""
    idle = [w for w in pool.workers.values() if w.state == "idle"]
    if session in (None, "reuse"):
        return idle[0] if idle else None
    if session == "new":
        return next((w for w in idle if w.turns == 0), None)
    return next((w for w in idle if w.session_id == session), None)


def running_per_workspace(pool: Pool) -> Counter[str]:
    """How many of the pool's running tasks each workspace has (tasks without one: none)."""
    return Counter(
        w.task.workspace
        for w in pool.workers.values()
        if w.state == "busy" and w.task is not None and w.task.workspace is not None
    )


def pool_entry(pool: Pool, queued: int) -> PoolEntry:
    """How ``pool`` is listed, with ``queued`` tasks waiting for it."""
    workers = list(pool.workers.values())
    return {
        "name": pool.name,
        "min": pool.config.min,
        "max": pool.config.max,
        "workers": [
            {
                "name": w.name,
                "pid": w.pid,
                "state": w.state,
                "turns": w.turns,
                "cost_usd": w.cost_usd,
                "session_id": w.session_id,
                "worktree": w.worktree.path if w.worktree is not None else None,
            }
            for w in workers
        ],
        "queued": queued,
        "running": sum(1 for w in workers if w.task is not None),
        "running_per_workspace": dict(running_per_workspace(pool)),
        "cost_usd": pool.cost_usd,
        "rate_limited_until": pool.rate_limited_until,
    }

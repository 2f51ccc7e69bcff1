"""Daemon feature: pools of headless Claude Code workers that take tasks (``task.submit {pool}``).

Each worker is a Circus watcher running ``claude -p`` in stream-json mode with plain pipes
(``pool_worker.Worker``): the daemon writes one user message per task to its stdin and reads
the turn's ``result`` from its stdout. Per pool (``pools.<name>`` in the config):

- at most ``max`` worker processes exist, ``min`` are kept running as warm spares, tasks run
  on at most ``concurrency.total`` of them at once, and at most ``concurrency.per_workspace``
  of one workspace (a queued task over its workspace's share waits and later tasks of other
  workspaces go first); highest priority first, FIFO within one;
- ``session``: ``reuse`` (default: any idle worker, its conversation goes on), ``new`` (a
  worker that has not taken a turn yet) or a session id (the worker holding it, else a new one
  started with ``--resume``);
- a worker idle for ``idle_timeout`` is stopped while more than ``min`` run; one is replaced
  after ``max_turns_per_worker`` turns or ``max_cost_per_worker`` dollars;
- a worker that dies mid-task: the task is queued again once (new session), then fails;
  a worker that ends by itself is replaced as a warm spare as ``restart_policy`` says
  (``always``; ``on-failure``: unless it exited 0; ``never``), and with the next task anyway;
  workers that die at start make the pool wait 1, 2, 4 … 60 s before the next start;
- ``task.cancel`` of a running task sends the ``interrupt`` control request; the worker
  takes the next task once the interrupted turn has ended;
- a ``rate_limit_event`` that refuses requests, or a turn that ends in HTTP 429, pauses the
  pool's dispatch until the reset time the CLI reports; the task waits, it does not fail.

The workers' life (start, stop, reaping, exits, a git worktree per worker with
``worktree: true``) is ``pool_workers.PoolWorkers``; this module dispatches tasks to them and
reads their turns. Tasks live in the ``TaskQueue`` table (``task.wait/show/list/cancel``
work for them).
Events: PoolWorkerStarted, PoolWorkerExited, PoolRateLimited, PoolResumed; TaskStarted,
TaskCompleted, TaskFailed and TaskRequeued carry ``pool``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from wzp_supervisor import stream_json as sj
from wzp_supervisor.circus_backend import CircusBackend, ProcessExit
from wzp_supervisor.features import DaemonContext, FeatureBase
from wzp_supervisor.pool_model import (
    Pool,
    PoolEntry,
    idle_worker,
    pool_entry,
    running_per_workspace,
)
from wzp_supervisor.pool_worker import Worker
from wzp_supervisor.pool_workers import PoolWorkers
from wzp_supervisor.task_model import MAX_REQUEUES, Task
from wzp_supervisor.task_queue import TaskQueue

log = logging.getLogger("wzp_supervisor.pools")

TICK_S = 0.5
"""How often idle workers, rate-limit pauses and warm spares are looked at."""
DEFAULT_PAUSE_S = 60.0
"""Pause after a 429 when the CLI reported no reset time."""


class Pools(FeatureBase):
    """The pools and the dispatch of pool tasks to their workers."""

    def __init__(self, ctx: DaemonContext, backend: CircusBackend, tasks: TaskQueue) -> None:
        self.ctx = ctx
        self.backend = backend
        self.tasks = tasks
        self.pools: dict[str, Pool] = {}
        self.workers = PoolWorkers(
            ctx,
            backend,
            self.pools,
            on_line=self._on_line,
            on_lost=self._task_lost,
            on_cannot_run=self._cannot_run,
            dispatch=self._schedule_dispatch,
        )
        self._ticker: asyncio.Task[None] | None = None
        self._dispatch_pending = False
        ctx.bus.add_listener(self._on_event)
        ctx.hub.register("pool.list", self.handle_list)

    # -- feature ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._sync_config()
        for pool in self.pools.values():
            self.workers.sweep_leftovers(pool)
        self._ticker = asyncio.ensure_future(self._tick_loop())
        self._schedule_dispatch()

    async def stop(self) -> None:
        self.workers.stopping = True
        self.ctx.bus.remove_listener(self._on_event)
        if self._ticker is not None:
            self._ticker.cancel()
        await self.workers.stop_all("the daemon is stopping")

    def on_exits(self, exits: list[ProcessExit]) -> None:
        """Backend callback: worker processes ended (others' exits are ignored)."""
        self.workers.on_exits(exits)

    def task_pools(self) -> list[str]:
        """The configured pool names."""
        return list(self.ctx.config().pools)

    # -- config -----------------------------------------------------------------------------

    def _sync_config(self) -> None:
        configured = self.ctx.config().pools
        for name, cfg in configured.items():
            pool = self.pools.get(name)
            if pool is None:
                self.pools[name] = Pool(cfg)
            else:
                pool.config = cfg
        for name in [n for n in self.pools if n not in configured]:
            pool = self.pools[name]
            for task in [t for t in self.tasks.queued.values() if t.pool == name]:
                self.tasks.finish(task, "failed", error=f"pool {name} was removed from the config")
            for worker in list(pool.workers.values()):
                if worker.state != "busy":
                    self.workers.retire(worker, "its pool was removed from the config")
            if not pool.workers and not pool.starting:
                del self.pools[name]

    # -- dispatch ---------------------------------------------------------------------------

    def _schedule_dispatch(self) -> None:
        if self._dispatch_pending or self.workers.stopping:
            return
        self._dispatch_pending = True
        asyncio.get_running_loop().call_soon(self._dispatch_all)

    def _dispatch_all(self) -> None:
        self._dispatch_pending = False
        if self.workers.stopping:
            return
        for pool in list(self.pools.values()):
            try:
                self._dispatch(pool)
            except Exception:
                log.exception("pool %s: dispatch failed", pool.name)

    def _dispatch(self, pool: Pool) -> None:
        cfg = pool.config
        if pool.rate_limited_until is not None:
            if time.time() < pool.rate_limited_until:
                return
            pool.rate_limited_until = None
            self.ctx.bus.publish("PoolResumed", "pool", pool=pool.name)
        if pool.name not in self.ctx.config().pools:
            return
        limit = min(cfg.concurrency.total or cfg.max, cfg.max)
        per_workspace = cfg.concurrency.per_workspace
        running = running_per_workspace(pool)
        queued = sorted(
            (t for t in self.tasks.queued.values() if t.pool == pool.name),
            key=lambda t: (-t.priority, t.seq),
        )
        for task in queued:
            if task.state != "queued":  # failed meanwhile (the pool's program cannot run)
                continue
            if pool.busy() >= limit:
                break
            if (
                per_workspace is not None
                and task.workspace is not None
                and running[task.workspace] >= per_workspace
            ):
                continue  # its workspace has its share running; later tasks may go first
            worker = idle_worker(pool, task.session)
            if worker is None and pool.alive() < cfg.max:
                if pool.starting:
                    break  # a worker is being prepared (its worktree): it takes this task
                worker = self.workers.spawn(pool, task.session)
                if worker is None:
                    break
            if worker is None:
                spare = idle_worker(pool, "reuse")
                if spare is not None and task.session not in (None, "reuse"):
                    self.workers.retire(spare, "making room for another session")
                continue
            self._run(task, worker)
            if task.workspace is not None:
                running[task.workspace] += 1
        while not pool.hold_spares and pool.alive() < cfg.min:
            if self.workers.spawn(pool, None) is None:
                break

    def _run(self, task: Task, worker: Worker) -> None:
        self.pools[worker.pool].hold_spares = False
        del self.tasks.queued[task.id]
        task.state, task.agent, task.started = "running", worker.name, time.time()
        task.attempts += 1
        worker.task, worker.state, worker.text = task, "busy", []
        worker.send(sj.user_line(task.prompt, worker.session_id))
        self.ctx.bus.publish(
            "TaskStarted", "task", task=task.id, target=worker.name, pool=task.pool
        )
        self.ctx.schedule_save()

    # -- worker output ----------------------------------------------------------------------

    def _on_line(self, worker: Worker, line: bytes) -> None:
        try:
            message = sj.parse_line(line)
            if message is None:
                log.warning(
                    "pool worker %s: skipped a line that is not a JSON message: %s",
                    worker.name,
                    sj.describe_bad_line(line),
                )
                return
            session = sj.session_of(message)
            if session is not None:
                worker.session_id = session
            if message.type == "assistant":
                worker.text.append(sj.assistant_text(message))
            elif message.type == "rate_limit_event":
                rejected, until = sj.rate_limit_reset(message)
                if rejected:
                    self._pause(worker.pool, until)
            elif message.type == "result":
                self._turn_ended(worker, message)
            else:
                delay = sj.retry_pause(message)
                if delay is not None:  # the CLI waits this long, then tries again itself
                    self._pause(worker.pool, time.time() + delay)
        except Exception:
            log.exception("pool worker %s: could not handle a line", worker.name)

    def _turn_ended(self, worker: Worker, message: sj.Message) -> None:
        total = sj.total_cost(message)
        delta = total - worker.cost_usd if total is not None else 0.0
        if total is not None:
            worker.cost_usd = total
        pool = self.pools.get(worker.pool)
        if pool is not None:
            pool.cost_usd += max(0.0, delta)
        worker.turns += 1
        task, worker.task, worker.interrupting = worker.task, None, False
        text, worker.text = "".join(worker.text), []
        if task is not None and task.state == "running":
            if sj.is_rate_limited(message):
                self._requeue(task, "rate limited (HTTP 429)", count=False)
                pool = self.pools.get(worker.pool)
                if pool is not None and pool.rate_limited_until is None:
                    self._pause(worker.pool, None)
            else:
                result = sj.turn_result(message, worker.name, delta, text)
                task.outcome = dict(result)
                if worker.worktree is not None:  # where the task's changes are
                    task.outcome["worktree"] = worker.worktree.path
                if result["is_error"]:
                    why = result["text"][:300] or sj.errors_of(message) or result["subtype"]
                    self.tasks.finish(task, "failed", result=result["text"], error=why)
                else:
                    self.tasks.finish(task, "done", result=result["text"])
        pool = self.pools.get(worker.pool)
        cfg = pool.config if pool is not None else None
        if worker.state == "stopping":
            return
        if cfg is None or (
            (cfg.max_turns_per_worker is not None and worker.turns >= cfg.max_turns_per_worker)
            or (cfg.max_cost_per_worker is not None and worker.cost_usd >= cfg.max_cost_per_worker)
        ):
            self.workers.retire(worker, "recycled (turn or cost limit)")
        else:
            worker.state, worker.idle_since = "idle", time.monotonic()
        self._schedule_dispatch()

    def _task_lost(self, worker: Worker, how: str) -> None:
        """``worker`` exited mid-task: queue its task again once (new session), then fail it."""
        task = worker.task
        if task is None:
            return
        reason = f"worker {worker.name} {how} mid-task"
        if self.workers.stopping:  # stopped with the daemon: the next daemon runs it
            self._requeue(task, "the daemon stopped", count=False)
        elif task.requeues >= MAX_REQUEUES:
            self.tasks.finish(task, "failed", error=f"{reason} (twice; giving up)")
        else:
            task.session = "new"
            self._requeue(task, reason, count=True)

    def _cannot_run(self, pool: Pool, reason: str) -> None:
        """The pool's config is wrong: fail its queued tasks with ``reason``."""
        for task in [t for t in self.tasks.queued.values() if t.pool == pool.name]:
            self.tasks.finish(task, "failed", error=f"pool {pool.name}: {reason}")

    def _requeue(self, task: Task, reason: str, count: bool) -> None:
        if count:
            task.requeues += 1
        worker = task.agent
        task.state, task.agent, task.started = "queued", None, None
        self.tasks.queued[task.id] = task
        self.ctx.bus.publish(
            "TaskRequeued", "task", task=task.id, target=worker, reason=reason, pool=task.pool
        )
        self.ctx.schedule_save()

    def _pause(self, name: str, until: float | None) -> None:
        pool = self.pools.get(name)
        if pool is None:
            return
        until = until if until is not None else time.time() + DEFAULT_PAUSE_S
        if pool.rate_limited_until is not None and pool.rate_limited_until >= until:
            return
        pool.rate_limited_until = until
        log.warning(
            "pool %s: rate limited until %s", name, time.strftime("%H:%M:%S", time.localtime(until))
        )
        self.ctx.bus.publish("PoolRateLimited", "pool", pool=name, until=until)

    # -- ticks and events -------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._sync_config()
                self.workers.reap_idle()
                self._dispatch_all()
            except Exception:
                log.exception("pools: tick failed")

    def _on_event(self, event: dict[str, Any]) -> None:
        try:
            name = event.get("event")
            if name in ("TaskSubmitted", "TaskRequeued", "DaemonStarted"):
                self._schedule_dispatch()
            elif name == "TaskCancelled":
                task_id = event.get("task")
                for worker in self.workers.by_watcher.values():
                    if worker.task is not None and worker.task.id == task_id:
                        self.workers.interrupt(worker)
        except Exception:
            log.exception("pools: could not handle %r", event.get("event"))

    # -- views ------------------------------------------------------------------------------

    def summary(self) -> list[PoolEntry]:
        """Every pool with its workers, queue and rate-limit pause (``pool.list``)."""
        out = []
        configured = self.ctx.config().pools
        for name in sorted(set(self.pools) | set(configured)):
            pool = self.pools.get(name) or Pool(configured[name])
            queued = sum(1 for t in self.tasks.queued.values() if t.pool == name)
            out.append(pool_entry(pool, queued))
        return out

    async def handle_list(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``pool.list {}``."""
        del msg
        return {"pools": list(self.summary())}

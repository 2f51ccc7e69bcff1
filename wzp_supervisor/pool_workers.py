"""The life of pool workers: start (in their own git worktree when the pool asks), stop,
retire, interrupt, reap when idle, and what happens when one exits.

``PoolWorkers`` starts each worker as a Circus watcher with pipes and hands its output lines
to the dispatcher (``pools.Pools``); when a worker exits it is forgotten, its watcher
removed, its task given back to the dispatcher (``on_lost``), failed starts back off
(1, 2, 4 … 60 s), the restart policy decides about warm spares, and its worktree is removed
if it holds no work (else kept and logged).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from wzp_supervisor import stream_json as sj
from wzp_supervisor.circus_backend import CircusBackend, ProcessExit
from wzp_supervisor.features import DaemonContext
from wzp_supervisor.git_worktrees import GitError, Worktree
from wzp_supervisor.pool_model import STOP_GRACE_S, Pool, pool_environment
from wzp_supervisor.pool_worker import Worker
from wzp_supervisor.pool_worktrees import (
    create_pool_worktree,
    free_index,
    leftover_pool_worktrees,
    release_pool_worktree,
)
from wzp_supervisor.process_tree import terminate_tree
from wzp_supervisor.restart_policy import describe_exit

log = logging.getLogger("wzp_supervisor.pools")

INTERRUPT_GRACE_S = 15.0
"""Seconds an interrupted turn has to end before its worker is replaced."""
EARLY_DEATH_S = 5.0
"""A warm spare that dies this soon without a turn counts as a failed start (backoff)."""
CANNOT_RUN = frozenset({errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR})
"""Spawn errors that mean the pool's command or directory is wrong, not busy."""

OnLine = Callable[[Worker, bytes], None]
OnLost = Callable[[Worker, str], None]
"""A worker exited (how, e.g. "killed by SIGKILL"): the dispatcher takes back its task."""
OnCannotRun = Callable[[Pool, str], None]
"""The pool's config is wrong (reason): none of its queued tasks can run."""


class PoolWorkers:
    """Every pool's worker processes, by watcher name."""

    def __init__(
        self,
        ctx: DaemonContext,
        backend: CircusBackend,
        pools: dict[str, Pool],
        on_line: OnLine,
        on_lost: OnLost,
        on_cannot_run: OnCannotRun,
        dispatch: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.backend = backend
        self.pools = pools
        self.by_watcher: dict[str, Worker] = {}
        self.stopping = False
        self._on_line = on_line
        self._on_lost = on_lost
        self._on_cannot_run = on_cannot_run
        self._dispatch = dispatch
        self._jobs: set[asyncio.Task[None]] = set()
        self._request_ids = 0

    # -- starting ---------------------------------------------------------------------------

    def spawn(self, pool: Pool, session: str | None) -> Worker | None:
        """A new idle worker for ``session`` (see ``Pools``), or None: backing off, failed,
        or (a worktree pool) being prepared in the background (``pool.starting``)."""
        if time.monotonic() < pool.spawn_after:
            return None
        cfg = pool.config
        if not cfg.worktree:
            index = pool.next_index
            pool.next_index += 1
            return self._start(pool, index, session, cfg.cwd or Path.home(), None)
        pool.starting += 1
        self.background(self._start_in_worktree(pool, session))
        return None

    async def _start_in_worktree(self, pool: Pool, session: str | None) -> None:
        cfg = pool.config
        root = self.ctx.config().worktree_root
        index = pool.next_index = free_index(pool.name, root, pool.next_index)
        pool.next_index += 1
        try:
            tree, cwd = await asyncio.to_thread(
                create_pool_worktree, pool.name, cfg.cwd or Path.home(), index, root
            )
        except GitError as exc:
            pool.starting -= 1
            self.failed_start(pool, exc.message)
            self._on_cannot_run(pool, exc.message)
            return
        pool.starting -= 1
        worker = None
        wanted = self.pools.get(pool.name) is pool and pool.name in self.ctx.config().pools
        if wanted and not self.stopping:
            worker = self._start(pool, index, session, cwd, tree)
        if worker is None:
            await self._release(tree)
        self._dispatch()

    def _start(
        self, pool: Pool, index: int, session: str | None, cwd: Path, tree: Worktree | None
    ) -> Worker | None:
        cfg = pool.config
        watcher = f"pool:{pool.name}:w{index}"
        name = f"{pool.name}/w{index}"
        resume = session if session not in (None, "new", "reuse") else None
        session_id = None if resume is not None else sj.new_session_id()
        command = cfg.command or self.ctx.config().processes.command
        argv = sj.worker_argv(
            command,
            session_id=session_id,
            resume=resume,
            permission_mode=cfg.permission_mode,
            allowed_tools=cfg.allowed_tools,
            extra=cfg.args,
        )
        env, missing = pool_environment(cfg, name, os.environ)
        if missing:
            log.warning("pool %s: unset variables in environment: %s", pool.name, missing)
        directory = os.fspath(cwd)
        try:
            self.backend.add_piped(watcher, argv, directory, env)
            child = self.backend.spawn_piped(watcher)
        except OSError as exc:
            reason = f"could not start {argv[0]} in {directory}: {exc.strerror or exc}"
            self.failed_start(pool, reason)
            self.background(self.backend.remove(watcher))
            if exc.errno in CANNOT_RUN:  # the config is wrong: no task of this pool can run
                self._on_cannot_run(pool, reason)
            return None
        worker = Worker(pool.name, name, watcher, child, resume or session_id, state="idle")
        worker.worktree = tree
        worker.attach(asyncio.get_running_loop(), self._on_line, _no_eof)
        pool.workers[watcher] = worker
        self.by_watcher[watcher] = worker
        self.ctx.bus.publish(
            "PoolWorkerStarted", "pool", pool=pool.name, worker=name, pid=child.pid
        )
        return worker

    def failed_start(self, pool: Pool, reason: str) -> None:
        """A worker could not start: wait 1, 2, 4 … 60 s before the next start."""
        pool.failures += 1
        pool.spawn_after = time.monotonic() + min(60.0, 2.0 ** (pool.failures - 1))
        log.warning("pool %s: %s", pool.name, reason)
        self.ctx.bus.publish("Error", "error", reason=f"pool {pool.name}: {reason}")

    # -- ending -----------------------------------------------------------------------------

    def on_exits(self, exits: list[ProcessExit]) -> None:
        """Backend callback: worker processes ended (others' exits are ignored)."""
        for ended in exits:
            worker = self.by_watcher.get(ended.name)
            if worker is None or worker.pid != ended.pid:
                continue
            worker.exited = True
            worker.exit_code = ended.exit_code
            worker.drain()  # its last lines (a result written just before it died)
            self._gone(worker)

    def _gone(self, worker: Worker) -> None:
        """The worker's process has exited: forget it, hand back its task, mind the spares."""
        worker.close()
        pool = self.pools.get(worker.pool)
        self.by_watcher.pop(worker.watcher, None)
        if pool is not None:
            pool.workers.pop(worker.watcher, None)
        self.background(self.backend.remove(worker.watcher))
        code = worker.exit_code
        how = describe_exit(code) if code is not None else "exited"
        task = worker.task
        if task is not None and task.state == "running":
            self._on_lost(worker, how)
        if pool is not None and worker.state != "stopping":
            # a spare that dies before any work: its command or flags are wrong (a task's
            # worker dying costs that task its retry, which bounds the restarts already)
            early = (
                task is None and worker.turns == 0 and time.time() - worker.started < EARLY_DEATH_S
            )
            if early:
                self.failed_start(pool, f"worker {worker.name} {how} at start")
            else:
                pool.failures, pool.spawn_after = 0, 0.0
            policy = pool.config.restart_policy
            if policy == "never" or (policy == "on-failure" and code == 0):
                pool.hold_spares = True  # warm spares come back with the next task
        if worker.worktree is not None:
            self.background(self._release(worker.worktree))
        if (
            pool is not None
            and not pool.workers
            and not pool.starting
            and pool.name not in self.ctx.config().pools
        ):
            del self.pools[pool.name]
        self.ctx.bus.publish(
            "PoolWorkerExited", "pool", pool=worker.pool, worker=worker.name, exit_code=code
        )
        self._dispatch()

    def sweep_leftovers(self, pool: Pool) -> None:
        """Release, as a stopped worker's, each worktree an earlier daemon's workers of
        ``pool`` left behind (the clean ones go, those holding work stay); new workers take
        numbers above theirs."""
        if pool.config.worktree:
            self.background(self._sweep(pool))

    async def _sweep(self, pool: Pool) -> None:
        leftovers = await asyncio.to_thread(
            leftover_pool_worktrees,
            pool.name,
            pool.config.cwd or Path.home(),
            self.ctx.config().worktree_root,
        )
        if leftovers:
            pool.next_index = max(pool.next_index, max(index for index, _ in leftovers) + 1)
        for _index, tree in leftovers:
            await self._release(tree)

    async def _release(self, tree: Worktree) -> None:
        kept = await asyncio.to_thread(release_pool_worktree, tree)
        if kept is not None:
            log.warning("pool worktree %s kept (branch %s): %s", tree.path, tree.branch, kept)
        else:
            log.info("pool worktree %s removed (it held no changes)", tree.path)

    def retire(self, worker: Worker, why: str) -> None:
        """Close the worker's stdin (it finishes and exits); terminate it if it lingers."""
        if worker.state == "stopping" or worker.exited:
            return
        log.info("pool worker %s: stopping (%s)", worker.name, why)
        worker.state = "stopping"
        worker.close_stdin()
        self.background(self._stop_worker(worker))

    async def _stop_worker(self, worker: Worker) -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        while not worker.exited and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not worker.exited:
            await terminate_tree(worker.pid, 5.0)
            for _ in range(100):
                if worker.exited:
                    break
                self.backend.reap()
                await asyncio.sleep(0.05)

    async def stop_all(self, why: str) -> None:
        """Retire every worker and wait (bounded) for them and their worktrees' cleanup."""
        self.stopping = True
        for worker in list(self.by_watcher.values()):
            self.retire(worker, why)
        deadline = time.monotonic() + STOP_GRACE_S + 6.0
        while self._jobs and time.monotonic() < deadline:
            await asyncio.wait(list(self._jobs), timeout=deadline - time.monotonic())

    def interrupt(self, worker: Worker) -> None:
        """Send the ``interrupt`` control request; retire the worker if its turn lingers."""
        self._request_ids += 1
        worker.interrupting = True
        if not worker.send(sj.interrupt_line(f"wzp-interrupt-{self._request_ids}")):
            return
        asyncio.get_running_loop().call_later(INTERRUPT_GRACE_S, self._interrupt_overdue, worker)

    def _interrupt_overdue(self, worker: Worker) -> None:
        if worker.interrupting and not worker.exited:
            self.retire(worker, "its interrupted turn did not end")

    def reap_idle(self) -> None:
        """Stop workers idle for ``idle_timeout`` while more than ``min`` run."""
        now = time.monotonic()
        for pool in self.pools.values():
            running = [w for w in pool.workers.values() if w.state != "stopping"]
            extra = len(running) - pool.config.min
            for worker in sorted(running, key=lambda w: w.idle_since):
                if extra <= 0:
                    break
                if worker.state == "idle" and now - worker.idle_since >= pool.config.idle_timeout:
                    self.retire(worker, f"idle for {pool.config.idle_timeout:g} s")
                    extra -= 1

    # -- background jobs --------------------------------------------------------------------

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a job that ``stop_all`` waits for; its failure is logged."""
        job: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._jobs.add(job)
        job.add_done_callback(self._job_done)

    def _job_done(self, job: asyncio.Task[None]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("pools: background job failed: %s", job.exception())


def _no_eof(worker: Worker) -> None:
    del worker  # the exit, reported by the backend, ends the worker

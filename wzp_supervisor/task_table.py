"""The task table: every task, the queue, the running ones, waiting for an end, and its
persistence across daemon restarts.

``TaskTable`` keeps the books for both kinds of task: those typed into agents
(``task_queue.TaskQueue`` adds that dispatch) and those run by pool workers (``pools``).
A task moves queued → running → done | failed | cancelled; ``finish`` wakes whoever waits for
it, publishes TaskCompleted/TaskFailed/TaskCancelled (with ``pool`` and ``cost_usd`` for a
pool task) and lets dispatch run again. Finished tasks beyond ``KEEP_FINISHED`` are dropped
from what is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from wzp_supervisor.features import DaemonContext, FeatureBase, SavedState
from wzp_supervisor.task_model import (
    KEEP_FINISHED,
    MAX_REQUEUES,
    RESULT_EXCERPT_CHARS,
    TERMINAL,
    Task,
)


class TaskTable(FeatureBase):
    """The tasks by id, the queued ones, the running one of each agent, and their waiters."""

    def __init__(self, ctx: DaemonContext) -> None:
        self.ctx = ctx
        self.tasks: dict[str, Task] = {}
        self.queued: dict[str, Task] = {}
        self.running: dict[str, Task] = {}  # agent target → its running task
        self._resuming: dict[str, Task] = {}  # running before a daemon restart, agent unknown
        self._next_seq = 1
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def _pump(self) -> None:
        """Soon: give queued tasks to whoever runs them (the table alone runs none)."""

    def prompt_of(self, task_id: str) -> str | None:
        """The prompt of task ``task_id`` (None when unknown)."""
        task = self.tasks.get(task_id)
        return task.prompt if task is not None else None

    def state_contribution(self) -> dict[str, Any]:
        finished = [t for t in self.tasks.values() if t.state in TERMINAL]
        for old in finished[:-KEEP_FINISHED]:
            del self.tasks[old.id]
        return {
            "tasks": {
                "next_seq": self._next_seq,
                "items": [t.to_json() for t in self.tasks.values()],
            }
        }

    def restore(self, state: SavedState) -> None:
        saved = state.get("tasks")
        if not isinstance(saved, Mapping):
            return
        next_seq = saved.get("next_seq")
        items = saved.get("items")
        for data in items if isinstance(items, list) else []:
            task = Task.from_json(data) if isinstance(data, Mapping) else None
            if task is None:
                continue
            if task.state == "running" and task.agent is not None:
                self._resuming[task.agent] = task  # its agent may be adopted (see _on_event)
            elif task.state == "running":
                task.state, task.started = "queued", None
            self.tasks[task.id] = task
            if task.state == "queued":
                self.queued[task.id] = task
            self._next_seq = max(self._next_seq, task.seq + 1)
        if isinstance(next_seq, int):
            self._next_seq = max(self._next_seq, next_seq)

    # -- the table --------------------------------------------------------------------------

    def add(self, task: Task, pump: bool = True) -> Task:
        task.seq = self._next_seq
        task.id = f"t{task.seq}"
        task.created = time.time()
        self._next_seq += 1
        self.tasks[task.id] = task
        self.queued[task.id] = task
        self.ctx.bus.publish(
            "TaskSubmitted",
            "task",
            task=task.id,
            kind=task.kind,
            target=task.target,
            workspace=task.workspace,
            priority=task.priority,
            **_pool_fields(task),
        )
        self.ctx.schedule_save()
        if pump:
            self._pump()
        return task

    async def wait(self, task: Task, timeout: float | None) -> None:
        """Wait until ``task`` ends, ``timeout`` passes, or the hub's limit comes near."""
        limit = max(0.1, self.ctx.hub.request_timeout - 1.0)
        wait_s = limit if timeout is None else max(0.0, min(timeout, limit))
        if task.state in TERMINAL or wait_s <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task.id, []).append(future)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), wait_s)
        finally:
            waiters = self._waiters.get(task.id)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[task.id]

    def finish(
        self, task: Task, state: str, result: str | None = None, error: str | None = None
    ) -> None:
        """Move ``task`` to a terminal state, wake its waiters, publish, dispatch again."""
        task.state = state
        task.finished = time.time()
        task.result = result
        task.error = error
        self.queued.pop(task.id, None)
        if task.agent is not None and self.running.get(task.agent) is task:
            del self.running[task.agent]
        for future in self._waiters.pop(task.id, []):
            if not future.done():
                future.set_result(None)
        details: dict[str, Any] = {}
        if state == "done":
            details["result"] = (result or "")[:RESULT_EXCERPT_CHARS]
            started = task.started
            details["duration"] = task.finished - started if started is not None else None
        elif state == "failed":
            details["reason"] = error
        name = {"done": "TaskCompleted", "failed": "TaskFailed"}.get(state, "TaskCancelled")
        self.ctx.bus.publish(
            name, "task", task=task.id, target=task.agent, **details, **_pool_fields(task)
        )
        self.ctx.schedule_save()
        self._pump()

    def _interrupted(self, task: Task, reason: str) -> None:
        """``task``'s agent went away mid-task: queue it again once, then fail it."""
        agent = task.agent
        if agent is not None and self.running.get(agent) is task:
            del self.running[agent]
        if task.requeues >= MAX_REQUEUES:
            self.finish(task, "failed", error=f"agent {agent} {reason} (twice; giving up)")
            return
        task.requeues += 1
        task.state, task.agent, task.started = "queued", None, None
        self.queued[task.id] = task
        self.ctx.bus.publish("TaskRequeued", "task", task=task.id, target=agent, reason=reason)
        self.ctx.schedule_save()
        self._pump()


def _pool_fields(task: Task) -> dict[str, Any]:
    """What events about a pool task add: its pool, and its cost once it has run."""
    if task.pool is None:
        return {}
    fields: dict[str, Any] = {"pool": task.pool}
    if task.outcome is not None:
        fields["cost_usd"] = task.outcome.get("cost_usd")
    return fields

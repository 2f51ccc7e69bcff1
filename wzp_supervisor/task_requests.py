"""The task hub types: ``task.request``, ``task.submit``, ``task.wait``, ``task.list``,
``task.show``, ``task.cancel`` and ``broadcast``, served on top of ``TaskQueue``."""

from __future__ import annotations

import re
from typing import Any

from wzp_supervisor import protocol
from wzp_supervisor.features import FeatureBase
from wzp_supervisor.layouts import validate_name
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.task_model import MAX_PROMPT_CHARS, TERMINAL, Task
from wzp_supervisor.task_queue import TaskQueue

STAYS_DOWN = frozenset({"stopped", "stopping", "fatal", "exited"})
"""Process states that do not come back by themselves: waiting on a task for them would
never end."""


class TaskRequests(FeatureBase):
    """Validates task requests and turns them into queue operations."""

    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue
        register = queue.ctx.hub.register
        register("task.request", self.handle_request)
        register("task.submit", self.handle_submit)
        register("task.wait", self.handle_wait)
        register("task.list", self.handle_list)
        register("task.show", self.handle_show)
        register("task.cancel", self.handle_cancel)
        register("broadcast", self.handle_broadcast)

    async def handle_request(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.request {target, prompt, wait?, timeout?, priority?}``."""
        target = protocol.field(msg, "target", str)
        prompt = _prompt(msg, "prompt")
        priority = protocol.field(msg, "priority", int, required=False) or 0
        wait = bool(protocol.field(msg, "wait", bool, required=False))
        self._require_agent(target)
        if wait:
            self._require_coming_back(target)
        task = self.queue.add(Task(id="", seq=0, prompt=prompt, target=target, priority=priority))
        if wait:
            await self.queue.wait(task, protocol.field(msg, "timeout", float, required=False))
        return self._reply(task)

    async def handle_submit(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.submit {prompt, workspace?, pool?, session?, priority?}``: queue for the
        next idle agent (of a workspace), or for a worker of a pool. A ``workspace`` that
        names no workspace but a pool is that pool (the seed's TaskRequest routes so); with
        ``pool`` it is the workspace the task counts for (``concurrency.per_workspace``)."""
        prompt = _prompt(msg, "prompt")
        workspace = protocol.field(msg, "workspace", str, required=False)
        pool = protocol.field(msg, "pool", str, required=False)
        session = protocol.field(msg, "session", str, required=False)
        priority = protocol.field(msg, "priority", int, required=False) or 0
        pools = self.queue.ctx.config().pools
        if workspace is not None and pool is not None:
            try:
                validate_name("workspace", workspace)
            except ValueError as exc:
                raise ProtocolError(protocol.INVALID, str(exc)) from None
        elif (
            workspace is not None
            and workspace not in self.queue.ctx.workspaces.records
            and workspace in pools
        ):
            workspace, pool = None, workspace
        if (
            pool is None
            and workspace is not None
            and workspace not in self.queue.ctx.workspaces.records
        ):
            raise ProtocolError(protocol.NOT_FOUND, f"no workspace named {workspace!r}")
        if pool is not None and pool not in pools:
            known = ", ".join(sorted(pools)) or "none configured"
            raise ProtocolError(protocol.NOT_FOUND, f"no pool named {pool!r} ({known})")
        if session is not None:
            if pool is None:
                raise ProtocolError(protocol.INVALID, "'session' is for pool tasks only")
            _check_session(session)
        task = self.queue.add(
            Task(
                id="",
                seq=0,
                prompt=prompt,
                workspace=workspace,
                priority=priority,
                pool=pool,
                session=session,
            )
        )
        if protocol.field(msg, "wait", bool, required=False):
            await self.queue.wait(task, protocol.field(msg, "timeout", float, required=False))
        return self._reply(task)

    async def handle_wait(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.wait {task, timeout?}``: answer when the task ends or the timeout passes."""
        task = self._get(msg)
        await self.queue.wait(task, protocol.field(msg, "timeout", float, required=False))
        return self._reply(task)

    async def handle_list(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.list {state?, limit?, pool?}``: tasks, oldest first."""
        state = protocol.field(msg, "state", str, required=False)
        limit = protocol.field(msg, "limit", int, required=False)
        pool = protocol.field(msg, "pool", str, required=False)
        tasks = [
            t
            for t in self.queue.tasks.values()
            if (state is None or t.state == state) and (pool is None or t.pool == pool)
        ]
        tasks.sort(key=lambda t: t.seq)
        if limit is not None and limit >= 0:
            tasks = tasks[-limit:] if limit else []
        return {"tasks": [t.to_json() for t in tasks]}

    async def handle_show(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.show {task}``."""
        return {"task": self._get(msg).to_json()}

    async def handle_cancel(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.cancel {task}``: a queued task never runs; a running one is let go (the agent
        finishes its turn, the result is dropped)."""
        task = self._get(msg)
        if task.state in TERMINAL:
            raise ProtocolError(protocol.CONFLICT, f"task {task.id} is already {task.state}")
        was = task.state
        self.queue.finish(task, "cancelled", error="cancelled by request")
        return {"task": task.to_json(), "was": was}

    async def handle_broadcast(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``broadcast {text, workspace?}``: to every Claude agent, at once when idle; the reply's
        ``states`` says what each agent it was queued for is doing (busy, waiting_input, …)."""
        text = _prompt(msg, "text")
        workspace = protocol.field(msg, "workspace", str, required=False)
        if workspace is not None and workspace not in self.queue.ctx.workspaces.records:
            raise ProtocolError(protocol.NOT_FOUND, f"no workspace named {workspace!r}")
        agents = [
            proc.target
            for proc in self.queue.ctx.processes.processes.values()
            if proc.spec.agent == "claude"
            and proc.desired == "running"
            and (workspace is None or proc.spec.workspace == workspace)
        ]
        created = [
            self.queue.add(Task(id="", seq=0, prompt=text, kind="broadcast", target=t), pump=False)
            for t in agents
        ]
        self.queue.dispatch()  # now, so the reply can say who got it at once
        delivered = [t.target for t in created if t.state == "running"]
        queued = [t.target for t in created if t.state == "queued"]
        states = self.queue.agent_states
        shown = {t: states.state_of(t) or "starting" for t in queued if t is not None}
        self.queue.ctx.bus.publish(
            "BroadcastSent",
            "task",
            workspace=workspace,
            delivered=delivered,
            queued=queued,
            tasks=[t.id for t in created],
        )
        return {
            "delivered": delivered,
            "queued": queued,
            "states": shown,
            "tasks": [t.id for t in created],
        }

    def _get(self, msg: dict[str, Any]) -> Task:
        task_id = protocol.field(msg, "task", str)
        task = self.queue.tasks.get(task_id)
        if task is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no task {task_id!r}")
        return task

    def _require_agent(self, target: str) -> None:
        proc = self.queue.ctx.processes.processes.get(target)
        if proc is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no supervised process {target!r}")
        if proc.spec.agent != "claude":
            raise ProtocolError(
                protocol.INVALID, f"{target} is not a Claude agent; use `wzp send` for text"
            )

    def _require_coming_back(self, target: str) -> None:
        """Refuse to wait on an agent that stays down: the wait would never end. (Without a
        wait the task is queued and runs once the agent is started.)"""
        proc = self.queue.ctx.processes.processes[target]
        if proc.state in STAYS_DOWN:
            raise ProtocolError(
                protocol.CONFLICT,
                f"{target} is {proc.state} and will not take a task; "
                f"start it first (wzp start {target}) or send without --wait to queue it",
            )

    @staticmethod
    def _reply(task: Task) -> dict[str, Any]:
        return {
            "task": task.to_json(),
            "done": task.state in TERMINAL,
            "response": task.result if task.state == "done" else None,
        }


SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _check_session(session: str) -> None:
    """``new``, ``reuse`` or a session id (letters, digits, ``-_.:``)."""
    if session not in ("new", "reuse") and not SESSION_RE.match(session):
        raise ProtocolError(
            protocol.INVALID,
            f"'session' must be 'new', 'reuse' or a session id, not {session[:80]!r}",
        )


def _prompt(msg: dict[str, Any], name: str) -> str:
    text: str = protocol.field(msg, name, str)
    if not text.strip():
        raise ProtocolError(protocol.INVALID, f"'{name}' is empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise ProtocolError(protocol.LIMIT, f"'{name}' is longer than {MAX_PROMPT_CHARS} chars")
    return text

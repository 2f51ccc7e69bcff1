"""Tasks, the queue and broadcast: prompts typed into idle Claude agents through their holders.

A daemon extension (see ``daemon.EXTENSIONS``) serving ``task.request``, ``task.submit``,
``task.wait``, ``task.list``, ``task.show``, ``task.cancel`` and ``broadcast``.

- A task has an id (``t<seq>``), a prompt, a state (queued → running → done | failed |
  cancelled) and its times. ``task.request`` names the agent; ``task.submit`` names a
  workspace or nothing (the pool: any agent) and a priority.
- An agent takes a task only when it is idle (its Stop/SessionStart hook said so) and has no
  task running: the highest priority first (higher number first), FIFO within a priority.
  The prompt is typed into the agent's PTY through its session holder (bracketed paste, then
  Enter as a separate key press).
- The agent's next Stop hook completes the task with ``last_assistant_message`` as result.
- An agent that exits, is stopped or crashes mid-task gets its task re-queued once; the second
  time the task fails with the reason.
- ``broadcast`` sends a text to every Claude agent (of a workspace): at once to idle ones,
  queued (as a targeted task) for busy ones.
- ``task.request {wait: true}`` and ``task.wait`` answer when the task ends, or after
  ``timeout`` seconds (never beyond the hub's request timeout) with ``done: false``; the CLI
  asks again until its own ``--timeout``.

Tasks survive a daemon restart (``state_contribution``/``restore``); a task that was running
when the daemon stopped is queued again (its agent was stopped with the daemon).
Events: TaskSubmitted, TaskStarted, TaskCompleted, TaskFailed, TaskRequeued, TaskCancelled,
BroadcastSent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from wzp_supervisor import paths, protocol
from wzp_supervisor.protocol import ProtocolError

if TYPE_CHECKING:
    from wzp_supervisor.agent_states import AgentStates
    from wzp_supervisor.daemon import Daemon

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 100_000
"""Longest prompt accepted."""

KEEP_FINISHED = 1000
"""Finished tasks kept (in memory and in state.json); older ones are forgotten."""

MAX_REQUEUES = 1
"""How often a task whose agent died mid-task is queued again before it fails."""

PASTE_READY_WAIT_S = 5.0
"""How long to wait for an agent to enable bracketed paste (its prompt is ready) first."""

RESULT_EXCERPT_CHARS = 500
"""Length of the result excerpt carried by TaskCompleted events."""

TERMINAL = frozenset({"done", "failed", "cancelled"})


@dataclass
class Task:
    """One prompt for an agent and what became of it."""

    id: str
    seq: int
    prompt: str
    kind: str = "task"  # task | broadcast
    target: str | None = None  # the agent it must run on (task.request, broadcast)
    workspace: str | None = None  # task.submit scope (None: any agent)
    priority: int = 0
    state: str = "queued"
    agent: str | None = None  # the agent running / that ran it
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    result: str | None = None
    error: str | None = None
    attempts: int = 0
    requeues: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (replies and state.json)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task | None:
        """A task from its saved form, or None when it is unusable."""
        known = {f.name for f in fields(cls)}
        try:
            task = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None
        if not isinstance(task.id, str) or not isinstance(task.seq, int):
            return None
        if not isinstance(task.prompt, str):
            return None
        return task

    def matches(self, target: str, workspace: str) -> bool:
        """Whether an agent ``target`` of ``workspace`` may run this queued task."""
        if self.target is not None:
            return self.target == target
        return self.workspace is None or self.workspace == workspace


class TaskQueue:
    """Daemon extension: the task table, the queue, dispatch to idle agents, broadcast."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.tasks: dict[str, Task] = {}
        self.queued: dict[str, Task] = {}
        self.running: dict[str, Task] = {}  # agent target → its running task
        self._next_seq = 1
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._pump_scheduled = False
        self._save_handle: asyncio.TimerHandle | None = None
        self._states: AgentStates | None = None
        hub = daemon.hub
        hub.register("task.request", self.handle_request)
        hub.register("task.submit", self.handle_submit)
        hub.register("task.wait", self.handle_wait)
        hub.register("task.list", self.handle_list)
        hub.register("task.show", self.handle_show)
        hub.register("task.cancel", self.handle_cancel)
        hub.register("broadcast", self.handle_broadcast)
        daemon.bus.add_listener(self._on_event)

    # -- extension hooks --------------------------------------------------------------------

    async def start(self) -> None:
        from wzp_supervisor.agent_states import AgentStates

        for extension in self.daemon.extensions:
            if isinstance(extension, AgentStates):
                self._states = extension
                extension.add_observer(self._on_hook)
        if self._states is None:
            log.warning("agent states are not loaded: tasks cannot be dispatched")

    async def stop(self) -> None:
        self.daemon.bus.remove_listener(self._on_event)
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._save_handle is not None:
            self._save_handle.cancel()

    def decorate_processes(self, processes: list[dict[str, Any]]) -> None:
        """``task``: the id of the task an agent is running (None when none)."""
        for info in processes:
            if info.get("kind") == "claude":
                task = self.running.get(str(info.get("target")))
                info["task"] = task.id if task is not None else None

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

    def restore(self, state: Mapping[str, Any]) -> None:
        saved = state.get("tasks")
        if not isinstance(saved, Mapping):
            return
        next_seq = saved.get("next_seq")
        items = saved.get("items")
        for data in items if isinstance(items, list) else []:
            task = Task.from_json(data) if isinstance(data, Mapping) else None
            if task is None:
                continue
            if task.state == "running":  # its agent was stopped with the daemon
                task.state, task.agent, task.started = "queued", None, None
            self.tasks[task.id] = task
            if task.state == "queued":
                self.queued[task.id] = task
            self._next_seq = max(self._next_seq, task.seq + 1)
        if isinstance(next_seq, int):
            self._next_seq = max(self._next_seq, next_seq)

    # -- hub handlers -----------------------------------------------------------------------

    async def handle_request(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.request {target, prompt, wait?, timeout?, priority?}``."""
        target = protocol.field(msg, "target", str)
        prompt = _prompt(msg, "prompt")
        priority = protocol.field(msg, "priority", int, required=False) or 0
        wait = bool(protocol.field(msg, "wait", bool, required=False))
        self._require_agent(target)
        task = self._add(Task(id="", seq=0, prompt=prompt, target=target, priority=priority))
        if wait:
            await self._wait(task, msg)
        return self._reply(task)

    async def handle_submit(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.submit {prompt, workspace?, priority?}``: queue for the next idle agent."""
        prompt = _prompt(msg, "prompt")
        workspace = protocol.field(msg, "workspace", str, required=False)
        priority = protocol.field(msg, "priority", int, required=False) or 0
        if workspace is not None and workspace not in self.daemon.workspaces.records:
            raise ProtocolError(protocol.NOT_FOUND, f"no workspace named {workspace!r}")
        task = self._add(Task(id="", seq=0, prompt=prompt, workspace=workspace, priority=priority))
        if protocol.field(msg, "wait", bool, required=False):
            await self._wait(task, msg)
        return self._reply(task)

    async def handle_wait(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.wait {task, timeout?}``: answer when the task ends or the timeout passes."""
        task = self._get(msg)
        await self._wait(task, msg)
        return self._reply(task)

    async def handle_list(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``task.list {state?, limit?}``: tasks, oldest first."""
        state = protocol.field(msg, "state", str, required=False)
        limit = protocol.field(msg, "limit", int, required=False)
        tasks = [t for t in self.tasks.values() if state is None or t.state == state]
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
        self._finish(task, "cancelled", error="cancelled by request")
        return {"task": task.to_json(), "was": was}

    async def handle_broadcast(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``broadcast {text, workspace?}``: to every Claude agent, at once when idle."""
        text = _prompt(msg, "text")
        workspace = protocol.field(msg, "workspace", str, required=False)
        if workspace is not None and workspace not in self.daemon.workspaces.records:
            raise ProtocolError(protocol.NOT_FOUND, f"no workspace named {workspace!r}")
        agents = [
            proc.target
            for proc in self.daemon.supervisor.processes.values()
            if proc.spec.agent == "claude"
            and proc.desired == "running"
            and (workspace is None or proc.spec.workspace == workspace)
        ]
        created = [
            self._add(Task(id="", seq=0, prompt=text, kind="broadcast", target=t), pump=False)
            for t in agents
        ]
        self._dispatch()  # now, so the reply can say who got it at once
        delivered = [t.target for t in created if t.state == "running"]
        queued = [t.target for t in created if t.state == "queued"]
        self.daemon.bus.publish(
            "BroadcastSent",
            "task",
            workspace=workspace,
            delivered=delivered,
            queued=queued,
            tasks=[t.id for t in created],
        )
        return {"delivered": delivered, "queued": queued, "tasks": [t.id for t in created]}

    # -- the table --------------------------------------------------------------------------

    def _add(self, task: Task, pump: bool = True) -> Task:
        task.seq = self._next_seq
        task.id = f"t{task.seq}"
        task.created = time.time()
        self._next_seq += 1
        self.tasks[task.id] = task
        self.queued[task.id] = task
        self.daemon.bus.publish(
            "TaskSubmitted",
            "task",
            task=task.id,
            kind=task.kind,
            target=task.target,
            workspace=task.workspace,
            priority=task.priority,
        )
        self._save_soon()
        if pump:
            self._pump()
        return task

    def _get(self, msg: dict[str, Any]) -> Task:
        task_id = protocol.field(msg, "task", str)
        task = self.tasks.get(task_id)
        if task is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no task {task_id!r}")
        return task

    def _require_agent(self, target: str) -> None:
        proc = self.daemon.supervisor.processes.get(target)
        if proc is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no supervised process {target!r}")
        if proc.spec.agent != "claude":
            raise ProtocolError(
                protocol.INVALID, f"{target} is not a Claude agent; use `wzp send` for text"
            )

    def _reply(self, task: Task) -> dict[str, Any]:
        return {
            "task": task.to_json(),
            "done": task.state in TERMINAL,
            "response": task.result if task.state == "done" else None,
        }

    async def _wait(self, task: Task, msg: dict[str, Any]) -> None:
        """Wait until ``task`` ends, ``timeout`` passes, or the hub's limit comes near."""
        timeout = protocol.field(msg, "timeout", float, required=False)
        limit = max(0.1, self.daemon.hub.request_timeout - 1.0)
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

    def _finish(
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
        if state == "done":
            excerpt = (result or "")[:RESULT_EXCERPT_CHARS]
            duration = task.finished - task.started if task.started is not None else None
            self.daemon.bus.publish(
                "TaskCompleted",
                "task",
                task=task.id,
                target=task.agent,
                result=excerpt,
                duration=duration,
            )
        elif state == "failed":
            self.daemon.bus.publish(
                "TaskFailed", "task", task=task.id, target=task.agent, reason=error
            )
        else:
            self.daemon.bus.publish("TaskCancelled", "task", task=task.id, target=task.agent)
        self._save_soon()
        self._pump()

    def _interrupted(self, task: Task, reason: str) -> None:
        """``task``'s agent went away mid-task: queue it again once, then fail it."""
        agent = task.agent
        if agent is not None and self.running.get(agent) is task:
            del self.running[agent]
        if task.requeues >= MAX_REQUEUES:
            self._finish(task, "failed", error=f"agent {agent} {reason} (twice; giving up)")
            return
        task.requeues += 1
        task.state, task.agent, task.started = "queued", None, None
        self.queued[task.id] = task
        self.daemon.bus.publish("TaskRequeued", "task", task=task.id, target=agent, reason=reason)
        self._save_soon()
        self._pump()

    # -- dispatch ---------------------------------------------------------------------------

    def _pump(self) -> None:
        """Soon: give queued tasks to idle agents (many triggers make one pass)."""
        if self._pump_scheduled:
            return
        self._pump_scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self._dispatch)
        except RuntimeError:  # no loop (restore, tests): the next trigger will do it
            self._pump_scheduled = False

    def _dispatch(self) -> None:
        self._pump_scheduled = False
        if not self.queued or self._states is None:
            return
        for proc in list(self.daemon.supervisor.processes.values()):
            target = proc.target
            if (
                proc.spec.agent != "claude"
                or proc.state != "running"
                or target in self.running
                or self._states.state_of(target) != "idle"
            ):
                continue
            best: Task | None = None
            for task in self.queued.values():
                if task.matches(target, proc.spec.workspace) and (
                    best is None or (-task.priority, task.seq) < (-best.priority, best.seq)
                ):
                    best = task
            if best is not None:
                self._start(best, target)
            if not self.queued:
                return

    def _start(self, task: Task, target: str) -> None:
        del self.queued[task.id]
        task.state, task.agent, task.started = "running", target, time.time()
        task.attempts += 1
        self.running[target] = task
        self.daemon.bus.publish("TaskStarted", "task", task=task.id, target=target)
        self._save_soon()
        job = asyncio.ensure_future(self._deliver(task, target))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _deliver(self, task: Task, target: str) -> None:
        """Type the prompt into ``target`` through its holder (a thread: blocking socket)."""
        from wzp_supervisor.session import control

        workspace, _, pane = target.partition("/")
        socket_path = paths.session_socket(workspace, pane)
        try:
            deadline = time.monotonic() + PASTE_READY_WAIT_S
            while time.monotonic() < deadline:
                info = await asyncio.to_thread(control.info, socket_path, timeout=5.0)
                if info.get("bracketed_paste"):
                    break
                await asyncio.sleep(0.1)
            if self.running.get(target) is not task:
                return  # cancelled or interrupted meanwhile
            await asyncio.to_thread(control.send_text, socket_path, task.prompt, True)
        except control.SessionError as exc:
            if self.running.get(target) is task:
                self._interrupted(task, f"could not be reached: {exc}")

    # -- events -----------------------------------------------------------------------------

    def _on_hook(self, target: str, event: str, payload: Mapping[str, Any]) -> None:
        """AgentStates observer: a Stop completes the agent's running task."""
        if event == "Stop":
            task = self.running.get(target)
            if task is not None:
                result = payload.get("last_assistant_message")
                self._finish(task, "done", result=result if isinstance(result, str) else "")
                return
        if event in ("Stop", "SessionStart"):
            self._pump()

    def _on_event(self, event: dict[str, Any]) -> None:
        """Bus listener: agents going idle get work; agents going away lose their task."""
        try:
            name = event.get("event")
            target = event.get("target")
            if name == "WorkspaceDeleted":
                self._workspace_gone(str(event.get("workspace")))
                return
            if not isinstance(target, str):
                return
            if name == "AgentStateChanged" and event.get("state") == "idle":
                self._pump()
            elif name in ("ProcessExited", "ProcessStopped", "ProcessFatal"):
                task = self.running.get(target)
                if task is not None:
                    reason = str(event.get("reason") or "").strip()
                    what = {"ProcessStopped": "was stopped", "ProcessFatal": "went fatal"}
                    text = what.get(str(name), "exited")
                    self._interrupted(task, f"{text} mid-task" + (f": {reason}" if reason else ""))
                if name == "ProcessFatal":
                    for queued in [t for t in self.queued.values() if t.target == target]:
                        self._finish(queued, "failed", error=f"agent {target} went fatal")
        except Exception:
            log.exception("tasks: could not handle %r", event.get("event"))

    def _workspace_gone(self, workspace: str) -> None:
        """Fail the queued tasks that only agents of a deleted workspace could run."""
        prefix = f"{workspace}/"
        for task in list(self.queued.values()):
            if task.workspace == workspace or (task.target or "").startswith(prefix):
                self._finish(task, "failed", error=f"workspace {workspace} was deleted")

    def _save_soon(self) -> None:
        """Persist within 0.1 s (bursts of task changes make one write)."""
        if self._save_handle is not None:
            return

        def save() -> None:
            self._save_handle = None
            self.daemon.schedule_save()

        with contextlib.suppress(RuntimeError):
            self._save_handle = asyncio.get_running_loop().call_later(0.1, save)


def _prompt(msg: dict[str, Any], name: str) -> str:
    text: str = protocol.field(msg, name, str)
    if not text.strip():
        raise ProtocolError(protocol.INVALID, f"'{name}' is empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise ProtocolError(protocol.LIMIT, f"'{name}' is longer than {MAX_PROMPT_CHARS} chars")
    return text

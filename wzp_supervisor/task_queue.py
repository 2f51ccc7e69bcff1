"""Tasks, the queue and broadcast: prompts typed into idle Claude agents through their holders.

A daemon feature (its hub types are served by ``task_requests.TaskRequests``):
``task.request``, ``task.submit``, ``task.wait``, ``task.list``, ``task.show``,
``task.cancel`` and ``broadcast``.

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
from typing import Any

from wzp_supervisor.agent_states import AgentStates
from wzp_supervisor.agents.claude import stop_failure_text
from wzp_supervisor.features import DaemonContext
from wzp_supervisor.states import READY_STATES, ProcessInfo
from wzp_supervisor.task_delivery import (
    Deliver,
    DeliveryError,
    Press,
    press_in_holder,
    press_nothing,
    type_into_holder,
)
from wzp_supervisor.task_model import CONFIRM_S, Task, next_task
from wzp_supervisor.task_table import TaskTable

log = logging.getLogger("wzp_supervisor.tasks")

CONFIRMING_EVENTS = frozenset(
    {"UserPromptSubmit", "PreToolUse", "PermissionRequest", "Stop", "StopFailure"}
)
"""Hooks that show a typed prompt was submitted."""

HOOKLESS_SOURCES = frozenset({"screen", "progress", "health"})
"""State sources that can end a turn without a Stop hook (the task then has no answer)."""


class TaskQueue(TaskTable):
    """The task table with dispatch to idle agents, delivery into their PTYs, and broadcast."""

    def __init__(
        self,
        ctx: DaemonContext,
        states: AgentStates,
        deliver: Deliver = type_into_holder,
        press: Press | None = None,
    ) -> None:
        super().__init__(ctx)
        self._states = states
        self._type = deliver
        if press is None:
            press = press_in_holder if deliver is type_into_holder else press_nothing
        self._press = press
        self._confirmations: dict[str, asyncio.Event] = {}  # task id → set when submitted
        self._jobs: set[asyncio.Task[None]] = set()
        self._pump_scheduled = False
        states.add_observer(self._on_hook)
        ctx.bus.add_listener(self._on_event)

    # -- feature ----------------------------------------------------------------------------

    async def stop(self) -> None:
        self.ctx.bus.remove_listener(self._on_event)
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    def decorate(self, processes: list[ProcessInfo]) -> None:
        """``task``: the id of the task an agent is running (None when none)."""
        for info in processes:
            if info.get("kind") == "claude":
                task = self.running.get(str(info.get("target")))
                info["task"] = task.id if task is not None else None

    @property
    def agent_states(self) -> AgentStates:
        """The agent states this queue dispatches by."""
        return self._states

    # -- dispatch ---------------------------------------------------------------------------

    def _pump(self) -> None:
        """Soon: give queued tasks to idle agents (many triggers make one pass)."""
        if self._pump_scheduled:
            return
        self._pump_scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self.dispatch)
        except RuntimeError:  # no loop (restore, tests): the next trigger will do it
            self._pump_scheduled = False

    def dispatch(self) -> None:
        self._pump_scheduled = False
        if not self.queued:
            return
        for proc in list(self.ctx.processes.processes.values()):
            target = proc.target
            if (
                proc.spec.agent != "claude"
                or proc.state != "running"
                or target in self.running
                or self._states.state_of(target) not in READY_STATES
            ):
                continue
            best = next_task(self.queued.values(), target, proc.spec.workspace)
            if best is not None:
                self._start(best, target)
            if not self.queued:
                return

    def _start(self, task: Task, target: str) -> None:
        del self.queued[task.id]
        task.state, task.agent, task.started = "running", target, time.time()
        task.attempts += 1
        self.running[target] = task
        self.ctx.bus.publish("TaskStarted", "task", task=task.id, target=target)
        self.ctx.schedule_save()
        job = asyncio.ensure_future(self._deliver(task, target))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _deliver(self, task: Task, target: str) -> None:
        """Type the prompt into ``target`` and see it submitted (a UserPromptSubmit hook):
        else press Enter again, then clear the input and type it again, then fail the task.
        An unreachable agent loses the task (requeue)."""

        def still_wanted() -> bool:
            return self.running.get(target) is task

        confirmed = self._confirmations[task.id] = asyncio.Event()
        try:
            await self._type(target, task.prompt, still_wanted)
            for step in ("enter", "retype", None):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(confirmed.wait(), CONFIRM_S)
                if confirmed.is_set() or not still_wanted():
                    return
                if step == "enter":
                    log.info("%s: task %s typed but not submitted; Enter again", target, task.id)
                    await self._press(target, "enter")
                elif step == "retype":
                    log.info(
                        "%s: task %s still not submitted; clearing, typing again", target, task.id
                    )
                    await self._press(target, "clear")
                    await self._type(target, task.prompt, still_wanted)
            self.finish(
                task,
                "failed",
                error=f"the prompt was typed into {target} but never submitted "
                "(no UserPromptSubmit after Enter, Enter again, and typing it again)",
            )
        except DeliveryError as exc:
            if still_wanted():
                self._interrupted(task, f"could not be reached: {exc}")
        finally:
            if self._confirmations.get(task.id) is confirmed:
                del self._confirmations[task.id]

    # -- events -----------------------------------------------------------------------------

    def _on_hook(self, target: str, event: str, payload: Mapping[str, Any]) -> None:
        """AgentStates observer: a Stop completes the agent's running task, a StopFailure
        fails it with the API error; UserPromptSubmit (and what follows it) confirms that
        the typed prompt was submitted."""
        if event in CONFIRMING_EVENTS:
            running = self.running.get(target)
            confirmation = self._confirmations.get(running.id) if running is not None else None
            if confirmation is not None:
                confirmation.set()
        if event == "Stop":
            task = self.running.get(target)
            if task is not None:
                result = payload.get("last_assistant_message")
                self.finish(task, "done", result=result if isinstance(result, str) else "")
                return
        if event == "StopFailure":
            task = self.running.get(target)
            if task is not None:
                self.finish(task, "failed", error=f"API error: {stop_failure_text(payload)}")
                return
        if event in ("Stop", "StopFailure", "SessionStart"):
            self._pump()

    def _on_event(self, event: dict[str, Any]) -> None:
        """Bus listener: agents going idle get work; agents going away lose their task."""
        try:
            name = event.get("event")
            target = event.get("target")
            if name == "WorkspaceDeleted":
                self._workspace_gone(str(event.get("workspace")))
                return
            if name == "DaemonStarted":
                self._resume_or_requeue()
                return
            if name == "ProcessAdopted" and isinstance(target, str):
                task = self._resuming.pop(target, None)
                if task is not None:  # the agent lived on: its Stop hook will complete it
                    self.running[target] = task
                return
            if not isinstance(target, str):
                return
            if name == "AgentRestartedForHealth":
                task = self.running.get(target)
                if task is not None:  # before its process stops: not queued again
                    self.finish(task, "failed", error=f"agent {target} {event.get('reason')}")
                return
            if name == "AgentStateChanged" and event.get("state") in READY_STATES:
                task = self.running.get(target)
                if task is not None and event.get("source") in HOOKLESS_SOURCES:
                    # the turn ended without a Stop hook (a refused tool, an interrupt)
                    why = str(event.get("reason") or "the turn ended without an answer")
                    self.finish(task, "failed", error=f"no answer: {why}")
                    return
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
                        self.finish(queued, "failed", error=f"agent {target} went fatal")
        except Exception:
            log.exception("tasks: could not handle %r", event.get("event"))

    def _resume_or_requeue(self) -> None:
        """Tasks whose agent was not adopted lost their prompt: queue them again."""
        for target, task in list(self._resuming.items()):
            del self._resuming[target]
            task.state, task.agent, task.started = "queued", None, None
            self.queued[task.id] = task
            self.ctx.bus.publish(
                "TaskRequeued",
                "task",
                task=task.id,
                target=target,
                reason="its agent did not survive the daemon restart",
            )
        self.ctx.schedule_save()
        self._pump()

    def _workspace_gone(self, workspace: str) -> None:
        """Fail the queued tasks that only agents of a deleted workspace could run."""
        prefix = f"{workspace}/"
        for task in list(self.queued.values()):
            if task.pool is not None:  # a pool's workers run it, whoever asked
                continue
            if task.workspace == workspace or (task.target or "").startswith(prefix):
                self.finish(task, "failed", error=f"workspace {workspace} was deleted")

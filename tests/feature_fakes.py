"""Building the daemon's features in-process, without an arbiter, hub socket or agents.

``FakeDaemon`` gives a real ``EventBus``, a real ``ProcessTable`` whose backend never spawns
(tests put ``ManagedProcess`` entries in it directly), a ``WorkspaceManager``, an in-memory
hub registry that calls handlers directly, and a ``DaemonContext`` over them: the seam honcho's
``Manager`` tests use (an injected clock and process constructor), applied to our features.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wzp_supervisor.agent_states import AgentStates
from wzp_supervisor.config import Config, load_config
from wzp_supervisor.events import Event, EventBus
from wzp_supervisor.features import DaemonContext, Feature, Handler
from wzp_supervisor.managed_process import ManagedProcess
from wzp_supervisor.process_table import ProcessTable
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.restart_policy import RestartSettings, RestartTracker
from wzp_supervisor.states import ProcessInfo
from wzp_supervisor.task_queue import TaskQueue
from wzp_supervisor.task_requests import TaskRequests
from wzp_supervisor.templates import PaneSpec
from wzp_supervisor.workspaces import WorkspaceManager, WorkspaceRecord


class MemoryHub:
    """A hub registry that serves requests by calling the handler in-process."""

    def __init__(self, request_timeout: float = 30.0) -> None:
        self.request_timeout = request_timeout
        self.handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def unregister(self, kind: str) -> None:
        self.handlers.pop(kind, None)

    def serves(self, kind: str) -> bool:
        return kind in self.handlers

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The reply fields, or ProtocolError as the hub would send it."""
        return await self.handlers[kind]({"type": kind, **fields})


class NoSpawnBackend:
    """A process backend for a table whose entries tests set by hand."""

    def add(self, *_args: Any) -> None:
        return None

    def has(self, _name: str) -> bool:
        return False

    def reap(self) -> None:
        return None

    async def spawn(self, _name: str) -> None:
        raise RuntimeError("in-process tests do not spawn")

    async def remove(self, _name: str) -> None:
        return None

    async def mark_stopped(self, _name: str) -> None:
        return None


def pane_spec(target: str, agent: str | None = "claude") -> PaneSpec:
    """A supervised pane spec for ``ws/pane``."""
    workspace, _, pane = target.partition("/")
    return PaneSpec(
        workspace=workspace,
        pane=pane,
        target=target,
        position="left",
        argv=("true",),
        agent=agent,  # type: ignore[arg-type]
        supervised=True,
        shell=False,
        cwd=Path("/"),
        environment={},
        restart_policy="always",
        min_uptime=10.0,
        max_retries=5,
        backoff_max=60.0,
        graceful_timeout=1.0,
        rlimits={},
        isolation="none",
    )


class FakeDaemon:
    """The daemon's shared pieces for in-process feature tests."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load_config(None)
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.add_listener(self.events.append)
        self.hub = MemoryHub()
        self.saves = 0
        backend: Any = NoSpawnBackend()
        self.table = ProcessTable(backend, self.bus, on_change=self.schedule_save)
        self.workspaces = WorkspaceManager(
            self.table, self.bus, lambda: self.config, self.schedule_save, lambda: None
        )
        self.features: list[Feature] = []
        self.ctx = DaemonContext(
            bus=self.bus,
            hub=self.hub,
            processes=self.table,
            workspaces=self.workspaces,
            config=lambda: self.config,
            schedule_save=self.schedule_save,
            snapshot=self.snapshot,
            started=time.time(),
        )

    def schedule_save(self) -> None:
        self.saves += 1

    def snapshot(self) -> list[ProcessInfo]:
        processes = self.table.snapshot()
        for feature in self.features:
            feature.decorate(processes)
        return processes

    def add_agent(self, target: str, state: str = "running", agent: str | None = "claude") -> None:
        """A supervised process in ``state`` (with a pid when running) and its workspace."""
        spec = pane_spec(target, agent)
        proc = ManagedProcess(
            spec=spec, tracker=RestartTracker(RestartSettings()), name=target.replace("/", ".")
        )
        proc.set_state(state)  # type: ignore[arg-type]
        if state == "running":
            proc.pid, proc.started_at = 4242, time.time()
        self.table.processes[target] = proc
        if spec.workspace not in self.workspaces.records:
            self.workspaces.records[spec.workspace] = WorkspaceRecord(
                spec.workspace, "default", "/", time.time()
            )

    def names(self, prefix: str = "") -> list[str]:
        """The names of the events published so far (those starting with ``prefix``)."""
        return [str(e["event"]) for e in self.events if str(e["event"]).startswith(prefix)]


class RecordingDelivery:
    """A task delivery that records what it was asked to type and succeeds."""

    def __init__(self) -> None:
        self.typed: list[tuple[str, str]] = []

    async def __call__(self, target: str, prompt: str, still_wanted: object) -> None:
        self.typed.append((target, prompt))


def build_tasks(daemon: FakeDaemon) -> tuple[AgentStates, TaskQueue, RecordingDelivery]:
    """Agent states, the task queue (typing recorded) and its hub types on ``daemon``."""
    states = AgentStates(daemon.ctx)
    delivery = RecordingDelivery()
    tasks = TaskQueue(daemon.ctx, states, deliver=delivery)
    daemon.features += [states, tasks, TaskRequests(tasks)]
    return states, tasks, delivery


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async test body on a fresh loop."""
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def settle() -> None:
    """Let call_soon callbacks and short tasks run."""
    for _ in range(5):
        await asyncio.sleep(0)


__all__ = [
    "FakeDaemon",
    "MemoryHub",
    "ProtocolError",
    "RecordingDelivery",
    "build_tasks",
    "pane_spec",
    "run",
    "settle",
]

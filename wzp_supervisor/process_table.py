"""The process table: desired state, restart policy and lifecycle of every supervised pane.

Circus (through ``CircusBackend``) spawns and reaps; this module decides. An exit is handled
the moment SIGCHLD reports it: restart now, back off, or leave the process down (exited,
fatal, stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from wzp_supervisor import paths, watcher_plan
from wzp_supervisor.agent_environment import agent_environment
from wzp_supervisor.circus_backend import CircusBackend, ProcessExit
from wzp_supervisor.events import EventBus
from wzp_supervisor.holder_scope import scope_prefix
from wzp_supervisor.managed_process import ManagedProcess, ProcessTableError
from wzp_supervisor.preflight import pane_missing_program
from wzp_supervisor.process_tree import terminate_tree
from wzp_supervisor.restart_policy import RestartTracker, describe_exit
from wzp_supervisor.states import ProcessInfo
from wzp_supervisor.templates import PaneSpec

log = logging.getLogger(__name__)


class ProcessTable:
    """Owns the ManagedProcess table and applies restart policies."""

    def __init__(
        self,
        backend: CircusBackend,
        bus: EventBus,
        on_change: Callable[[], None],
        daemon_env: Mapping[str, str] | None = None,
        passthrough: tuple[str, ...] = (),
    ) -> None:
        self.backend = backend
        self.bus = bus
        self.on_change = on_change
        self.daemon_env = dict(os.environ if daemon_env is None else daemon_env)
        self.passthrough = passthrough
        self.processes: dict[str, ManagedProcess] = {}
        self.shutting_down = False
        # called after every stop once the holder is gone (ends what its agent left running)
        self.after_stop: Callable[[PaneSpec], Awaitable[None]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- table ------------------------------------------------------------------------------

    def get(self, target: str) -> ManagedProcess:
        try:
            return self.processes[target]
        except KeyError:
            raise ProcessTableError("not_found", f"no supervised process {target!r}") from None

    def select(self, target: str) -> list[ManagedProcess]:
        """Processes named by a target: ``all``, a workspace, or ``ws/pane``."""
        if target == "all":
            return list(self.processes.values())
        if "/" in target:
            return [self.get(target)]
        found = [p for p in self.processes.values() if p.spec.workspace == target]
        if not found:
            raise ProcessTableError("not_found", f"no workspace or process named {target!r}")
        return found

    def register(
        self, spec: PaneSpec, desired: Literal["running", "stopped"] = "running", restarts: int = 0
    ) -> ManagedProcess:
        """Add a pane's watcher (not started)."""
        plan = watcher_plan.plan_watcher(spec, self.daemon_env, self.passthrough)
        paths.pane_log(spec.workspace, spec.pane).parent.mkdir(parents=True, exist_ok=True)
        for name in plan.missing_env:
            log.warning(
                "%s: environment variable %s is not set in the daemon's environment",
                spec.target,
                name,
            )
        cmd, options = plan.cmd, plan.options
        prefix = scope_prefix(spec.target, environ=self.daemon_env)
        if prefix:  # under systemd: the holder gets a scope of its own (outlives the daemon)
            cmd, options = prefix[0], {**options, "args": [*prefix[1:], cmd, *options["args"]]}
        self.backend.add(plan.name, cmd, options)
        proc = ManagedProcess(
            spec=spec,
            tracker=RestartTracker(watcher_plan.restart_settings(spec)),
            name=plan.name,
            desired=desired,
            restarts=restarts,
            missing_program=pane_missing_program(spec, self.daemon_env),
            environment=plan.options["env"],
        )
        self.processes[spec.target] = proc
        return proc

    def differs(self, proc: ManagedProcess, spec: PaneSpec) -> bool:
        """Whether ``spec`` would run differently from ``proc``: another spec, or another
        environment (``passthrough`` names it gets from the daemon's environment)."""
        if spec != proc.spec:
            return True
        env, _ = agent_environment(spec, self.daemon_env, self.passthrough)
        return env != proc.environment

    async def unregister(self, proc: ManagedProcess) -> None:
        """Stop a process and forget it."""
        await self.stop(proc)
        await self.backend.remove(proc.name)
        self.processes.pop(proc.target, None)

    async def replace(self, proc: ManagedProcess, spec: PaneSpec) -> ManagedProcess:
        """Run ``spec`` in place of ``proc``, keeping its desired state and restart count.

        The desired state is never saved as stopped on the way, so a daemon that dies in
        between still brings the pane back (with the new spec, from the config).
        """
        desired, restarts = proc.desired, proc.restarts
        await self.stop(proc, remember=False)
        await self.backend.remove(proc.name)
        self.processes.pop(proc.target, None)
        new = self.register(spec, desired, restarts)
        if desired == "running":
            await self.start(new)
        return new

    def adopt(self, proc: ManagedProcess, pid: int) -> None:
        """Take over the live holder ``pid`` of ``proc`` (left by a previous daemon)."""
        create_time = self.backend.adopt(proc.name, pid)
        proc.pid, proc.create_time, proc.started_at = pid, create_time, create_time
        proc.exit_code = None
        proc.tracker.on_start(uptime=max(0.0, time.time() - create_time))
        proc.set_state("running", "adopted from the previous daemon")
        self.bus.publish(
            "ProcessAdopted", "process", target=proc.target, pid=pid, restarts=proc.restarts
        )
        self.on_change()

    def ended_while_away(self, proc: ManagedProcess, pid: int) -> None:
        """``proc``'s holder ``pid`` ended while no daemon ran: apply the restart policy now,
        with the exit its holder recorded (a kill when it recorded none)."""
        record = read_exit_record(proc.spec.workspace, proc.spec.pane, pid)
        code, uptime = record if record is not None else (-signal.SIGKILL, 0.0)
        proc.tracker.on_start(uptime=uptime)
        proc.set_state("starting", "ended while no daemon ran")
        self._after_exit(proc, code, spawned=True)

    def snapshot(self) -> list[ProcessInfo]:
        return [p.info() for p in self.processes.values()]

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, proc: ManagedProcess, reset: bool = True) -> None:
        """Start a process that is not running (clears backoff and fatal)."""
        proc.desired = "running"
        if reset:
            proc.tracker.reset()
            proc.attempt = 0
        self._cancel_timer(proc)
        if proc.pid is None:
            await self._spawn(proc)
        self.on_change()

    async def stop(self, proc: ManagedProcess, kill: bool = False, remember: bool = True) -> None:
        """Stop gracefully (SIGTERM to the group, SIGKILL after the timeout); stays down.

        With ``remember=False`` (daemon shutdown) the desired state is kept, so the next
        daemon starts the process again.
        """
        if remember:
            proc.desired = "stopped"
        self._cancel_timer(proc)
        pid = proc.pid
        if pid is not None:
            proc.set_state("stopping")
            self.on_change()
            await terminate_tree(
                pid, proc.spec.graceful_timeout, signal.SIGKILL if kill else signal.SIGTERM
            )
            self.backend.reap()
            for _ in range(50):  # the reap above normally got it; a zombie may lag a little
                if proc.pid is None:
                    break
                await asyncio.sleep(0.02)
                self.backend.reap()
        if self.backend.has(proc.name):
            await self.backend.mark_stopped(proc.name)
        if self.after_stop is not None:
            await self.after_stop(proc.spec)
        proc.set_state("stopped", "stopped by request" if pid else proc.reason)
        self.bus.publish("ProcessStopped", "process", target=proc.target)
        self.on_change()

    async def restart(self, proc: ManagedProcess, spec: PaneSpec | None = None) -> ManagedProcess:
        """Stop and start ``proc``; with ``spec`` (the current config's) when it ``differs``,
        the new process runs that spec and environment. Returns the process now in the table."""
        if spec is not None and self.differs(proc, spec):
            proc.desired = "running"
            return await self.replace(proc, spec)
        await self.stop(proc)
        await self.start(proc)
        return proc

    def signal(self, proc: ManagedProcess, signum: int) -> None:
        """Send a signal to the process group without changing the desired state."""
        if proc.pid is None:
            raise ProcessTableError("conflict", f"{proc.target} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    async def _spawn(self, proc: ManagedProcess) -> None:
        proc.timer = None
        proc.next_try = None
        if proc.desired != "running" or self.shutting_down:
            return
        proc.set_state("starting")
        try:
            result = await self.backend.spawn(proc.name)
        except Exception as exc:  # circus raises on bad commands, rlimits, cwd
            log.exception("%s: could not start", proc.target)
            result = None
            proc.reason = f"could not start: {exc}"
        if result is None:
            self._after_exit(proc, 127, spawned=False)
            return
        proc.pid, proc.create_time = result
        if proc.desired != "running" or self.shutting_down:
            # a stop or the daemon's shutdown came while this spawn was under way
            await self.stop(proc, remember=False)
            return
        proc.started_at = time.time()
        proc.exit_code = None
        proc.tracker.on_start()
        proc.set_state("running")
        self.bus.publish(
            "ProcessStarted", "process", target=proc.target, pid=proc.pid, restarts=proc.restarts
        )
        self.on_change()

    def on_exits(self, exits: list[ProcessExit]) -> None:
        """Backend callback: processes ended (called from SIGCHLD or the periodic check)."""
        by_name = {p.name: p for p in self.processes.values()}
        for ended in exits:
            proc = by_name.get(ended.name)
            if proc is None or proc.pid != ended.pid:
                continue
            code = ended.exit_code
            if code is None:  # an adopted holder: it recorded how its agent ended
                record = read_exit_record(proc.spec.workspace, proc.spec.pane, ended.pid)
                code = record[0] if record is not None else -signal.SIGKILL
            self._after_exit(proc, code, spawned=True)

    def _after_exit(self, proc: ManagedProcess, exit_code: int, spawned: bool) -> None:
        proc.pid = None
        proc.create_time = None
        proc.exit_code = exit_code
        text = describe_exit(exit_code) if spawned else proc.reason or "could not start"
        if proc.missing_program and exit_code != 0:
            text = f"{proc.missing_program} ({text})"
        if proc.desired == "stopped" or self.shutting_down or proc.state == "stopping":
            proc.set_state("stopped", text)
            self.on_change()
            return
        self.bus.publish(
            "ProcessExited", "process", target=proc.target, exit_code=exit_code, reason=text
        )
        decision = proc.tracker.on_exit(exit_code)
        if decision.action == "restart":
            proc.restarts += 1
            proc.attempt = decision.attempt
            self._run(self._spawn(proc))
        elif decision.action == "backoff":
            proc.restarts += 1
            proc.attempt = decision.attempt
            proc.next_try = time.time() + decision.delay
            proc.set_state("backoff", text)
            loop = asyncio.get_running_loop()
            proc.timer = loop.call_later(decision.delay, lambda: self._run(self._spawn(proc)))
        elif decision.action == "fatal":
            proc.set_state("fatal", decision.reason)
            self.bus.publish("ProcessFatal", "process", target=proc.target, reason=decision.reason)
            self.bus.publish("Error", "error", target=proc.target, reason=decision.reason)
        else:
            proc.set_state("exited", text)
        self.on_change()

    def _cancel_timer(self, proc: ManagedProcess) -> None:
        if proc.timer is not None:
            proc.timer.cancel()
            proc.timer = None
        proc.next_try = None

    def _run(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        """Stop every process for daemon exit; their desired state is kept for the next start."""
        self.shutting_down = True
        await asyncio.gather(*(self.stop(p, remember=False) for p in self.processes.values()))


def read_exit_record(workspace: str, pane: str, holder_pid: int) -> tuple[int, float] | None:
    """(exit code, uptime) of the agent holder ``holder_pid`` ran, from its agent record."""
    try:
        record = json.loads(paths.agent_record_file(workspace, pane).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("holder_pid") != holder_pid:
        return None
    last = record.get("last_exit")
    if not isinstance(last, dict):
        return None
    code, signum, ended = last.get("code"), last.get("signal"), last.get("time")
    started = record.get("agent_started_at")
    numbers = (int, float)
    uptime = (
        float(ended) - float(started)
        if isinstance(ended, numbers) and isinstance(started, numbers)
        else 0.0
    )
    if isinstance(signum, int) and not isinstance(signum, bool):
        return -signum, uptime
    if isinstance(code, int) and not isinstance(code, bool):
        return code, uptime
    return None

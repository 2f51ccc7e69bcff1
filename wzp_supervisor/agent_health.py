"""Health checks of Claude agents: holders answer, busy agents show life, signals agree.

A daemon feature. Every ``health_check_interval`` seconds (``processes.claude_code``, a
template or a pane may set it) each running Claude agent is checked:

- its session holder must answer ``info`` (a ping). Two failed pings in a row restart the
  process; the holder resumes the agent's session. Each failure is a ``HealthCheckFailed
  {target, check: "ping", reason, failures}`` event (counted in metrics);
- a ``busy`` agent must show life: a hook, a change of its terminal progress (OSC 9;4), or a
  change on its screen other than the spinner's clock. With none for ``stall_after`` seconds
  (default 10 × the interval) it becomes ``stalled`` (source ``health``; notified like
  ``waiting_input``; a ``HealthCheckFailed {check: "stall"}`` event) and, with
  ``on_stall: restart``, is restarted and resumed (``AgentRestartedForHealth {target,
  reason}`` goes first, so its task fails with the reason). Life after a stall makes it busy
  again;
- the holder's other signals correct a hook-driven state that the hooks left wrong, after a
  grace period, saying so (source ``progress`` or ``screen``): progress reported busy while
  the agent reads idle → ``busy``; a ``waiting_input`` or ``busy`` agent whose screen shows
  its prompt ready with no dialog and no progress, with no hook since → ``idle``.

``agent.health`` lists what the checks know per agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from wzp_supervisor import paths
from wzp_supervisor.agent_states import AgentRecord, AgentStates
from wzp_supervisor.agents import claude
from wzp_supervisor.features import DaemonContext, FeatureBase
from wzp_supervisor.session import control, dialog

log = logging.getLogger(__name__)

PING_FAILURES = 2
"""Failed pings in a row after which the process is restarted."""

STALL_FACTOR = 10
"""``stall_after`` defaults to this many intervals."""

GRACE_S = 2.0
"""How long signals must disagree with the hooks before the freshest evidence wins."""

MIN_TICK_S = 0.05
MAX_TICK_S = 1.0


class HealthSettings(NamedTuple):
    """The health settings of one pane (pane over template over ``processes.claude_code``)."""

    interval: float
    stall_after: float
    on_stall: str


@dataclass
class Watch:
    """What the checks know about one agent."""

    next_check: float = 0.0  # time.monotonic()
    failures: int = 0
    checks: int = 0
    last_check: float | None = None
    last_activity: float = 0.0  # time.time() of the last sign of life seen
    fingerprint: str | None = None
    progress: str | None = None
    progress_since: float | None = None
    disagree_since: float | None = None


class AgentHealth(FeatureBase):
    """Periodic checks of every running Claude agent; ``agent.health``."""

    def __init__(self, ctx: DaemonContext, states: AgentStates) -> None:
        self.ctx = ctx
        self._states = states
        self.watches: dict[str, Watch] = {}
        self._runner: asyncio.Task[None] | None = None
        self._restarts: set[asyncio.Task[Any]] = set()
        ctx.hub.register("agent.health", self.handle_health)
        ctx.bus.add_listener(self._on_event)

    # -- feature ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self.ctx.bus.remove_listener(self._on_event)
        jobs = [j for j in (self._runner, *self._restarts) if j is not None]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def handle_health(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``agent.health``: per agent, its settings and what the checks saw."""
        del msg
        return {
            "agents": {
                target: {**asdict(watch), **self.settings(target)._asdict()}
                for target, watch in self.watches.items()
            }
        }

    # -- settings ---------------------------------------------------------------------------

    def settings(self, target: str) -> HealthSettings:
        """The health settings of ``target``: its pane's, else its template's, else the
        defaults of ``processes.claude_code``."""
        config = self.ctx.config()
        defaults = config.processes
        interval, stall_after, on_stall = (
            defaults.health_check_interval,
            defaults.stall_after,
            defaults.on_stall,
        )
        workspace, _, pane = target.partition("/")
        record = self.ctx.workspaces.records.get(workspace)
        template = config.templates.get(record.template) if record is not None else None
        layers: list[Any] = []
        if template is not None:
            layers.append(template)
            layers.extend(p for p in template.panes if p.name == pane)
        for layer in layers:
            interval = layer.health_check_interval or interval
            stall_after = layer.stall_after or stall_after
            on_stall = layer.on_stall or on_stall
        return HealthSettings(interval, stall_after or STALL_FACTOR * interval, on_stall)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            due = []
            for proc in list(self.ctx.processes.processes.values()):
                if proc.spec.agent != "claude" or proc.state != "running":
                    self.watches.pop(proc.target, None)
                    continue
                watch = self.watches.get(proc.target)
                if watch is None:  # first seen: its first check comes one interval later
                    watch = self.watches[proc.target] = Watch(last_activity=time.time())
                    watch.next_check = now + self.settings(proc.target).interval
                if watch.next_check <= now:
                    due.append(proc.target)
            if due:
                await asyncio.gather(*(self._check_safely(t) for t in due))
            pending = [w.next_check for w in self.watches.values()]
            delay = min(pending, default=now + MAX_TICK_S) - time.monotonic()
            await asyncio.sleep(min(MAX_TICK_S, max(MIN_TICK_S, delay)))

    async def _check_safely(self, target: str) -> None:
        try:
            await self.check(target)
        except Exception:
            log.exception("health check of %s failed", target)

    async def check(self, target: str) -> None:
        """One health check of ``target`` (a running Claude agent)."""
        watch = self.watches.get(target)
        if watch is None:
            return
        settings = self.settings(target)
        watch.next_check = time.monotonic() + settings.interval
        watch.checks += 1
        watch.last_check = time.time()
        workspace, _, pane = target.partition("/")
        socket_path = paths.session_socket(workspace, pane)
        timeout = max(1.0, min(5.0, settings.interval))
        try:
            info = await asyncio.to_thread(control.info, socket_path, timeout=timeout)
            lines: list[str] | None = None
            record = self._states.records.get(target)
            if record is not None and record.state in ("busy", "stalled", "waiting_input"):
                snapshot = await asyncio.to_thread(control.peek, socket_path, timeout=timeout)
                lines = snapshot.lines
        except control.SessionError as exc:
            await self._ping_failed(target, watch, str(exc))
            return
        if target not in self.watches:
            return  # the process went away meanwhile
        watch.failures = 0
        self._observe(target, watch, settings, info, lines)

    async def _ping_failed(self, target: str, watch: Watch, reason: str) -> None:
        watch.failures += 1
        self.ctx.bus.publish(
            "HealthCheckFailed",
            "health",
            target=target,
            check="ping",
            reason=reason,
            failures=watch.failures,
        )
        if watch.failures >= PING_FAILURES:
            watch.failures = 0
            self._restart(target, f"its session holder did not answer {PING_FAILURES} checks")

    def _observe(
        self,
        target: str,
        watch: Watch,
        settings: HealthSettings,
        info: dict[str, Any],
        lines: list[str] | None,
    ) -> None:
        now = time.time()
        record = self._states.records.get(target)
        if record is None:
            return
        progress = info.get("progress")
        state = progress.get("state") if isinstance(progress, dict) else None
        if state != watch.progress:
            watch.progress, watch.progress_since = state, now
            if state is not None:  # a report came (or changed): the program is alive
                watch.last_activity = now
        if lines is not None:
            fingerprint = claude.activity_fingerprint(lines)
            if fingerprint != watch.fingerprint:
                if watch.fingerprint is not None:
                    watch.last_activity = now
                watch.fingerprint = fingerprint
        else:
            watch.fingerprint = None
        if record.last_event_at is not None:
            watch.last_activity = max(watch.last_activity, record.last_event_at)
        self._stall_rule(target, watch, settings, record, now)
        self._agreement_rule(target, watch, record, lines, now)

    def _stall_rule(
        self,
        target: str,
        watch: Watch,
        settings: HealthSettings,
        record: AgentRecord,
        now: float,
    ) -> None:
        quiet = now - max(watch.last_activity, record.since)
        if record.state == "busy" and quiet >= settings.stall_after:
            reason = f"no output, hook or progress for {quiet:.0f}s"
            self._states.set_state(target, "stalled", reason, None, "health")
            self.ctx.bus.publish(
                "HealthCheckFailed", "health", target=target, check="stall", reason=reason
            )
            if settings.on_stall == "restart":
                self._restart(target, f"stalled: {reason}")
        elif record.state == "stalled" and watch.last_activity > record.since:
            self._states.set_state(target, "busy", "signs of life after a stall", None, "health")

    def _agreement_rule(
        self,
        target: str,
        watch: Watch,
        record: AgentRecord,
        lines: list[str] | None,
        now: float,
    ) -> None:
        """Progress or screen contradicting the hooks for longer than GRACE_S wins."""
        hook_at = record.last_event_at or 0.0
        verdict: tuple[str, str, str] | None = None
        if watch.progress == "busy" and record.state in ("idle", "error", "starting"):
            if (watch.progress_since or 0.0) > hook_at:
                verdict = ("busy", "the terminal progress shows a turn running", "progress")
        elif (
            record.state in ("waiting_input", "busy")
            and lines is not None
            and watch.progress != "busy"
            and dialog.find(lines) is None
            and claude.screen_prompt(lines) is not None
            and "esc to interrupt" not in "\n".join(lines[-3:])
        ):
            verdict = ("idle", "the screen shows the prompt ready and no dialog", "screen")
        if verdict is None:
            watch.disagree_since = None
            return
        if watch.disagree_since is None:
            watch.disagree_since = now
        if now - watch.disagree_since >= GRACE_S and now - hook_at >= GRACE_S:
            state, reason, source = verdict
            watch.disagree_since = None
            self._states.set_state(target, state, reason, None, source)

    # -- actions ----------------------------------------------------------------------------

    def _restart(self, target: str, reason: str) -> None:
        proc = self.ctx.processes.processes.get(target)
        if proc is None or proc.busy:
            return
        self.ctx.bus.publish("AgentRestartedForHealth", "health", target=target, reason=reason)
        log.warning("%s: restarting (%s)", target, reason)
        self.watches.pop(target, None)
        job = asyncio.ensure_future(self.ctx.processes.restart(proc))
        self._restarts.add(job)
        job.add_done_callback(self._restart_done)

    def _restart_done(self, job: asyncio.Task[Any]) -> None:
        self._restarts.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("health restart failed: %s", job.exception())

    def _on_event(self, event: dict[str, Any]) -> None:
        """A (re)started process starts a fresh watch."""
        with contextlib.suppress(Exception):
            if event.get("event") in ("ProcessStarted", "ProcessStopped", "ProcessExited"):
                self.watches.pop(str(event.get("target")), None)

"""Daemon extension: see the pool (issue #5).

Once a second it samples every supervised process tree (``stats.Sampler``, in a worker
thread so the loop never waits for /proc) and rewrites status.json; a state change rewrites it
sooner (debounced). It also logs every bus event as a structured line, records transitions
into waiting_input/fatal for the plugin's toasts, sends desktop notifications, and serves
Prometheus metrics. Hub types: ``stats`` (resources per process) and ``metrics`` (the text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import psutil

from wzp_supervisor import __version__, paths
from wzp_supervisor.events import Event
from wzp_supervisor.metrics import Metrics, MetricsServer, Snapshot
from wzp_supervisor.notify import Alert, Notifier
from wzp_supervisor.stats import Sampler, TreeSample
from wzp_supervisor.status_file import TransitionLog, build_status, encode_bounded, write_atomic

if TYPE_CHECKING:
    from wzp_supervisor.daemon import Daemon

log = logging.getLogger("wzp.observe")
event_log = logging.getLogger("wzp.events")

SAMPLE_INTERVAL = 1.0
DEBOUNCE = 0.1
# Events whose arrival rewrites status.json soon.
REFRESH_TOPICS = frozenset({"process", "state", "workspace", "task", "agent"})
# Process events mapped to the state they put a process in (for transitions).
PROCESS_EVENT_STATES = {
    "ProcessStarted": "starting",
    "ProcessExited": "exited",
    "ProcessStopped": "stopped",
    "ProcessFatal": "fatal",
}
WARNING_EVENTS = frozenset({"Error", "ProcessFatal", "ProcessExited"})


class Observer:
    """Sampler, status.json writer, event log, transitions, notifications and metrics."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.sampler = Sampler()
        self.samples: dict[str, TreeSample] = {}
        self.sample_cpu = 0.0  # cpu seconds the last sample cost
        self.samples_taken = 0
        self.status_writes = 0
        self.status_bytes = 0
        self.transitions = TransitionLog()
        self.notifier = Notifier(daemon.config.notifications)
        self.metrics = Metrics(self._metrics_source)
        self.metrics_server: MetricsServer | None = None
        self._self = psutil.Process()
        self._self.cpu_percent(None)
        self._task: asyncio.Task[None] | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._running = False

    # -- extension hooks --------------------------------------------------------------------

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the transition ``seq`` of the previous daemon."""
        seq = (state.get("observe") or {}).get("transition_seq")
        if isinstance(seq, int) and seq > 0:
            self.transitions.seq = seq

    def state_contribution(self) -> dict[str, Any]:
        return {"observe": {"transition_seq": self.transitions.seq}}

    async def start(self) -> None:
        self.daemon.hub.register("stats", self._hub_stats)
        self.daemon.hub.register("metrics", self._hub_metrics)
        self.daemon.bus.add_listener(self._on_event)
        cfg = self.daemon.config.metrics
        if cfg.enabled:
            server = MetricsServer(self.metrics, cfg.host, cfg.port)
            try:
                await server.start()
                self.metrics_server = server
            except OSError as exc:
                log.error("metrics: cannot listen on %s:%s: %s", cfg.host, cfg.port, exc)
                self.daemon.bus.publish("Error", "error", reason=f"metrics endpoint: {exc}")
        self._running = True
        self.write_status()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        self._running = False
        self.daemon.bus.remove_listener(self._on_event)
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None
        await self.notifier.close()
        self.sampler.close()
        with contextlib.suppress(FileNotFoundError):
            paths.status_json().unlink()  # the plugin shows "wzp off"

    def decorate_processes(self, processes: list[dict[str, Any]]) -> None:
        """Add ``cpu`` (% of one core), ``rss`` (bytes) and ``nprocs`` of each tree."""
        for proc in processes:
            sample = self.samples.get(str(proc.get("target")))
            if sample is None or not proc.get("pid"):
                proc.update(cpu=0.0, rss=0, nprocs=0)
            else:
                proc.update(cpu=sample.cpu, rss=sample.rss, nprocs=sample.nprocs)

    # -- sampling and status.json -----------------------------------------------------------

    async def _loop(self) -> None:
        while self._running:
            started = time.monotonic()
            try:
                await self.sample_once()
                self.write_status()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sampling failed")
            await asyncio.sleep(max(0.05, SAMPLE_INTERVAL - (time.monotonic() - started)))

    async def sample_once(self) -> None:
        """Sample every process tree (in a worker thread)."""
        roots = {p.target: p.pid for p in self.daemon.supervisor.processes.values()}
        self.samples = await asyncio.to_thread(self._sample, roots)
        self.samples_taken += 1

    def _sample(self, roots: dict[str, int | None]) -> dict[str, TreeSample]:
        begin = time.thread_time()
        result = self.sampler.sample(roots)
        self.sample_cpu = time.thread_time() - begin
        return result

    def poke(self) -> None:
        """Rewrite status.json soon (many changes in a burst make one write)."""
        if self._pending is not None or not self._running:
            return
        self._pending = asyncio.get_running_loop().call_later(DEBOUNCE, self._debounced)

    def _debounced(self) -> None:
        self._pending = None
        try:
            self.write_status()
        except Exception:
            log.exception("could not write status.json")

    def _add_task_prompts(self, processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``task_prompt`` for processes whose ``task`` is an id the task queue knows."""
        tasks: Any = None
        for extension in self.daemon.extensions:
            candidate = getattr(extension, "tasks", None)
            if isinstance(candidate, dict):
                tasks = candidate
        if tasks is None:
            return processes
        for proc in processes:
            task = tasks.get(proc.get("task")) if isinstance(proc.get("task"), str) else None
            if task is not None and "task_prompt" not in proc:
                proc["task_prompt"] = getattr(task, "prompt", None)
        return processes

    def status_document(self) -> dict[str, Any]:
        """The current status.json document."""
        return build_status(
            processes=self._add_task_prompts(self.daemon.process_snapshot()),
            workspaces=self.daemon.workspaces.listing(),
            daemon={
                "pid": os.getpid(),
                "version": __version__,
                "uptime": round(time.time() - self.daemon.started, 1),
            },
            transitions=self.transitions.to_list(),
        )

    def write_status(self) -> None:
        """Write status.json now (atomically)."""
        data = encode_bounded(self.status_document())
        try:
            write_atomic(paths.status_json(), data)
        except OSError as exc:
            log.warning("could not write %s: %s", paths.status_json(), exc)
            return
        self.status_writes += 1
        self.status_bytes = len(data)

    # -- events -----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        self._log_event(event)
        self.metrics.on_event(event)
        name = str(event.get("event", ""))
        target = event.get("target")
        state: str | None = None
        if name == "AgentStateChanged":
            state = event.get("state")
        elif name in PROCESS_EVENT_STATES:
            state = PROCESS_EVENT_STATES[name]
        if name == "WorkspaceDeleted" and isinstance(event.get("workspace"), str):
            self.transitions.forget_workspace(event["workspace"])
        if isinstance(target, str) and isinstance(state, str):
            entry = self.transitions.observe(target, state, event.get("reason"), event.get("ts"))
            if entry is not None:
                self._notify(target, state, event)
                self.daemon.schedule_save()  # the seq survives a restart
        if event.get("topic") in REFRESH_TOPICS:
            self.poke()

    def _notify(self, target: str, state: str, event: Event) -> None:
        if not self._template_notifies(target):
            return
        self.notifier.config = self.daemon.config.notifications
        alert = Alert(
            target=target,
            state=state,
            reason=_text(event.get("reason")),
            message=_text(event.get("message")),
        )
        self.notifier.notify(alert)

    def _template_notifies(self, target: str) -> bool:
        record = self.daemon.workspaces.records.get(target.split("/", 1)[0])
        if record is None:
            return True
        template = self.daemon.config.templates.get(record.template)
        return bool(template.notify) if template is not None else True

    @staticmethod
    def _log_event(event: Event) -> None:
        name = str(event.get("event", ""))
        target = event.get("target")
        workspace = event.get("workspace") or (
            target.split("/", 1)[0] if isinstance(target, str) else event.get("name")
        )
        reason = event.get("reason")
        extra = {
            k: v
            for k, v in event.items()
            if k not in ("event", "target", "workspace", "reason", "ts", "topic", "seq")
            and isinstance(v, str | int | float | bool)
        }
        text = " ".join(
            str(part)
            for part in (name, target or workspace or "", reason or "")
            if part not in (None, "")
        )
        event_log.log(
            logging.WARNING if name in WARNING_EVENTS else logging.INFO,
            text,
            extra={
                "fields": {
                    "event": name,
                    "workspace": workspace,
                    "process": target,
                    "reason": reason,
                    "seq": event.get("seq"),
                    **extra,
                }
            },
        )

    # -- hub --------------------------------------------------------------------------------

    def _metrics_source(self) -> Snapshot:
        return self.daemon.process_snapshot(), self.daemon.workspaces.listing()

    async def _hub_metrics(self, _msg: dict[str, Any]) -> dict[str, Any]:
        return {"text": self.metrics.text()}

    async def _hub_stats(self, _msg: dict[str, Any]) -> dict[str, Any]:
        processes = []
        for proc in self.daemon.process_snapshot():
            processes.append(
                {
                    key: proc.get(key)
                    for key in (
                        "target",
                        "workspace",
                        "pane",
                        "kind",
                        "state",
                        "agent_state",
                        "pid",
                        "uptime",
                        "restarts",
                        "cpu",
                        "rss",
                        "nprocs",
                    )
                }
            )
        with self._self.oneshot():
            own_cpu = self._self.cpu_percent(None)
            own_rss = self._self.memory_info().rss
        return {
            "processes": processes,
            "totals": {
                "cpu": round(sum(float(p["cpu"] or 0) for p in processes), 1),
                "rss": sum(int(p["rss"] or 0) for p in processes),
                "nprocs": sum(int(p["nprocs"] or 0) for p in processes),
            },
            "daemon": {"pid": os.getpid(), "cpu": own_cpu, "rss": own_rss},
            "sampler": {
                "interval": SAMPLE_INTERVAL,
                "tracked": self.sampler.tracked,
                "last_cost_ms": round(self.sample_cpu * 1000, 3),
                "samples": self.samples_taken,
            },
            "status_file": {
                "path": os.fspath(paths.status_json()),
                "writes": self.status_writes,
                "bytes": self.status_bytes,
            },
        }


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None

"""Daemon feature: see the pool.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psutil

from wzp_supervisor import __version__, paths
from wzp_supervisor.desktop_notify import Alert, Notifier
from wzp_supervisor.events import Event
from wzp_supervisor.features import DaemonContext, FeatureBase, SavedState
from wzp_supervisor.metrics import Metrics, MetricsServer, Snapshot
from wzp_supervisor.plugin_token import plugin_token
from wzp_supervisor.sampler import Sampler, TreeSample
from wzp_supervisor.states import SUPERVISION_EVENT_STATES, ProcessInfo
from wzp_supervisor.status_file import (
    TransitionLog,
    build_status,
    encode_bounded,
    pool_counts,
    write_atomic,
)
from wzp_supervisor.task_queue import TaskQueue

log = logging.getLogger("wzp.observe")
event_log = logging.getLogger("wzp.events")

SAMPLE_INTERVAL = 1.0
DEBOUNCE = 0.1
# Events whose arrival rewrites status.json soon.
REFRESH_TOPICS = frozenset({"process", "state", "workspace", "task", "agent", "pool"})
WARNING_EVENTS = frozenset({"Error", "ProcessFatal", "ProcessExited"})


class Observer(FeatureBase):
    """Sampler, status.json writer, event log, transitions, notifications and metrics."""

    def __init__(
        self,
        ctx: DaemonContext,
        tasks: TaskQueue,
        pools: Callable[[], Sequence[Mapping[str, Any]]] = tuple,
    ) -> None:
        self.ctx = ctx
        self.tasks = tasks
        self.pools = pools
        self.sampler = Sampler()
        self.samples: dict[str, TreeSample] = {}
        self.sample_cpu = 0.0  # cpu seconds the last sample cost
        self.samples_taken = 0
        self.status_writes = 0
        self.status_bytes = 0
        self.transitions = TransitionLog()
        try:
            self.token: str | None = plugin_token()
        except OSError as exc:  # the plugin then has no token file and checks nothing
            log.warning("no plugin token: %s", exc)
            self.token = None
        self.notifier = Notifier(ctx.config().notifications)
        self.metrics = Metrics(self._metrics_source, pools)
        self.metrics_server: MetricsServer | None = None
        self._self = psutil.Process()
        self._self.cpu_percent(None)
        self._task: asyncio.Task[None] | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._running = False

    # -- feature --------------------------------------------------------------------

    def restore(self, state: SavedState) -> None:
        """Continue the transition ``seq`` of the previous daemon."""
        seq = (state.get("observe") or {}).get("transition_seq")
        if isinstance(seq, int) and seq > 0:
            self.transitions.seq = seq

    def state_contribution(self) -> dict[str, Any]:
        return {"observe": {"transition_seq": self.transitions.seq}}

    async def start(self) -> None:
        self.ctx.hub.register("stats", self._hub_stats)
        self.ctx.hub.register("metrics", self._hub_metrics)
        self.ctx.bus.add_listener(self._on_event)
        cfg = self.ctx.config().metrics
        if cfg.enabled:
            server = MetricsServer(self.metrics, cfg.host, cfg.port)
            try:
                await server.start()
                self.metrics_server = server
            except OSError as exc:
                log.error("metrics: cannot listen on %s:%s: %s", cfg.host, cfg.port, exc)
                self.ctx.bus.publish("Error", "error", reason=f"metrics endpoint: {exc}")
        self._running = True
        self.write_status()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        self._running = False
        self.ctx.bus.remove_listener(self._on_event)
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

    def decorate(self, processes: list[ProcessInfo]) -> None:
        """Add ``cpu`` (% of one core), ``rss`` (bytes) and ``nprocs`` of each tree."""
        for proc in processes:
            sample = self.samples.get(str(proc.get("target")))
            if sample is None or not proc.get("pid"):
                proc["cpu"], proc["rss"], proc["nprocs"] = 0.0, 0, 0
            else:
                proc["cpu"], proc["rss"], proc["nprocs"] = sample.cpu, sample.rss, sample.nprocs

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
        roots = {p.target: p.pid for p in self.ctx.processes.processes.values()}
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

    def _add_task_prompts(self, processes: list[ProcessInfo]) -> list[ProcessInfo]:
        """``task_prompt`` for processes running a task."""
        for proc in processes:
            task_id = proc.get("task")
            if isinstance(task_id, str) and "task_prompt" not in proc:
                proc["task_prompt"] = self.tasks.prompt_of(task_id)
        return processes

    def status_document(self) -> dict[str, Any]:
        """The current status.json document (with the plugin's token)."""
        document = build_status(
            processes=self._add_task_prompts(self.ctx.snapshot()),
            workspaces=self.ctx.workspaces.listing(),
            daemon={
                "pid": os.getpid(),
                "version": __version__,
                "uptime": round(time.time() - self.ctx.started, 1),
            },
            transitions=self.transitions.to_list(),
        )
        document["pools"] = pool_counts(self.pools())
        document["token"] = self.token
        return document

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
        elif name in SUPERVISION_EVENT_STATES:
            state = SUPERVISION_EVENT_STATES[name]
        if name == "WorkspaceDeleted" and isinstance(event.get("workspace"), str):
            self.transitions.forget_workspace(event["workspace"])
        if isinstance(target, str) and isinstance(state, str):
            entry = self.transitions.observe(target, state, event.get("reason"), event.get("ts"))
            if entry is not None:
                self._notify(target, state, event)
                self.ctx.schedule_save()  # the seq survives a restart
        if event.get("topic") in REFRESH_TOPICS:
            self.poke()

    def _notify(self, target: str, state: str, event: Event) -> None:
        if not self._template_notifies(target):
            return
        self.notifier.config = self.ctx.config().notifications
        alert = Alert(
            target=target,
            state=state,
            reason=_text(event.get("reason")),
            message=_text(event.get("message")),
        )
        self.notifier.notify(alert)

    def _template_notifies(self, target: str) -> bool:
        record = self.ctx.workspaces.records.get(target.split("/", 1)[0])
        if record is None:
            return True
        template = self.ctx.workspaces.template_of(record)
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
        return self.ctx.snapshot(), self.ctx.workspaces.listing()

    async def _hub_metrics(self, _msg: dict[str, Any]) -> dict[str, Any]:
        return {"text": self.metrics.text()}

    async def _hub_stats(self, _msg: dict[str, Any]) -> dict[str, Any]:
        processes: list[dict[str, Any]] = []
        for proc in self.ctx.snapshot():
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

"""Prometheus metrics of the pool, on a registry of our own, served over loopback HTTP.

Names: the four of the specification keep theirs (``workspaces_active``, ``processes_active``,
``task_duration_seconds``, ``errors_total``); every other metric starts with ``wzp_``.

Gauges are computed at scrape time from the daemon's process snapshot, so a scrape always
agrees with ``wzp status --json``; ``errors_total`` and ``task_duration_seconds`` accumulate
from bus events. The HTTP endpoint is a tiny asyncio server on the daemon's loop (no thread
reading daemon state behind the loop's back); ``wzp metrics`` gets the same text from the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from wzp_supervisor.states import FOLDED, POOL_WORKER_STATES, shown_state
from wzp_supervisor.states import SHOWN_STATES as STATES

log = logging.getLogger(__name__)

Snapshot = tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]]

TASK_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))


class PoolCollector(Collector):
    """Gauges from ``source()`` → (decorated processes, workspace listing)."""

    def __init__(self, source: Callable[[], Snapshot]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        processes, workspaces = self.source()
        yield GaugeMetricFamily(
            "workspaces_active", "Workspaces the daemon manages.", value=len(workspaces)
        )
        yield GaugeMetricFamily(
            "processes_active",
            "Supervised processes that are running (have a pid).",
            value=sum(1 for p in processes if p.get("pid")),
        )
        by_state = GaugeMetricFamily(
            "wzp_agents", "Supervised processes by shown state.", labels=["state"]
        )
        counts = dict.fromkeys(STATES, 0)
        for proc in processes:
            state = shown_state(proc)
            state = FOLDED.get(state, state)
            counts[state] = counts.get(state, 0) + 1
        for state, count in counts.items():
            by_state.add_metric([state], count)
        yield by_state
        labels = ["target", "workspace", "pane"]
        restarts = CounterMetricFamily(
            "wzp_agent_restarts", "Restarts of each supervised process.", labels=labels
        )
        cpu = GaugeMetricFamily(
            "wzp_agent_cpu_percent", "CPU of each process tree, percent of one core.", labels=labels
        )
        rss = GaugeMetricFamily(
            "wzp_agent_rss_bytes", "Resident memory of each process tree.", labels=labels
        )
        nprocs = GaugeMetricFamily(
            "wzp_agent_processes", "Processes in each supervised tree.", labels=labels
        )
        for proc in processes:
            values = [str(proc.get("target")), str(proc.get("workspace")), str(proc.get("pane"))]
            restarts.add_metric(values, float(proc.get("restarts") or 0))
            cpu.add_metric(values, float(proc.get("cpu") or 0.0))
            rss.add_metric(values, float(proc.get("rss") or 0))
            nprocs.add_metric(values, float(proc.get("nprocs") or 0))
        yield restarts
        yield cpu
        yield rss
        yield nprocs


class WorkerPoolCollector(Collector):
    """Gauges of the headless worker pools from ``source()`` (``pool.list`` entries)."""

    def __init__(self, source: Callable[[], Sequence[Mapping[str, Any]]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        workers = GaugeMetricFamily(
            "wzp_pool_workers", "Worker processes of each pool, by state.", labels=["pool", "state"]
        )
        depth = GaugeMetricFamily(
            "wzp_pool_queue_depth", "Tasks queued for each pool.", labels=["pool"]
        )
        for pool in self.source():
            name = str(pool.get("name"))
            states = [str(w.get("state")) for w in pool.get("workers") or []]
            for state in POOL_WORKER_STATES:
                workers.add_metric([name, state], states.count(state))
            depth.add_metric([name], float(pool.get("queued") or 0))
        yield workers
        yield depth


class Metrics:
    """The registry: pool gauges, event counters and the daemon's own process metrics."""

    def __init__(
        self,
        source: Callable[[], Snapshot],
        pools: Callable[[], Sequence[Mapping[str, Any]]] = tuple,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.task_cost = Counter(
            "wzp_task_cost_usd",
            "Cost in dollars of the turns pool tasks ran, by pool.",
            ["pool"],
            registry=None,
        )
        self.registry.register(self.task_cost)
        self.registry.register(WorkerPoolCollector(pools))
        self.errors = Counter("errors", "Error events published by the daemon.", registry=None)
        self.task_duration = Histogram(
            "task_duration_seconds",
            "Duration of completed tasks.",
            buckets=TASK_BUCKETS,
            registry=None,
        )
        self.health_failures = Counter(
            "wzp_health_check_failures",
            "Failed health checks of agents, by check (ping, stall).",
            ["check"],
            registry=None,
        )
        self.registry.register(self.errors)
        self.registry.register(self.health_failures)
        self.registry.register(self.task_duration)
        self.registry.register(PoolCollector(source))
        ProcessCollector(namespace="wzp_daemon", registry=self.registry)
        self._task_started: dict[str, float] = {}

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Count ``Error`` events and time completed tasks (bus listener).

        A task's duration is the event's ``duration`` when it has one, else the time from its
        ``TaskStarted`` event to its ``TaskCompleted`` event.
        """
        name = event.get("event")
        task = event.get("task")
        cost = event.get("cost_usd")
        if name in ("TaskCompleted", "TaskFailed") and isinstance(cost, int | float) and cost > 0:
            self.task_cost.labels(str(event.get("pool"))[:64]).inc(float(cost))
        if name == "Error":
            self.errors.inc()
        elif name == "HealthCheckFailed":
            self.health_failures.labels(str(event.get("check") or "unknown")[:20]).inc()
        elif name == "TaskStarted" and isinstance(task, str):
            if len(self._task_started) >= 10_000:  # tasks that never finish: forget the oldest
                self._task_started.pop(next(iter(self._task_started)))
            self._task_started[task] = float(event.get("ts") or 0.0)
        elif name == "TaskCompleted":
            started = self._task_started.pop(task, None) if isinstance(task, str) else None
            duration = event.get("duration")
            if not isinstance(duration, int | float) and started and event.get("ts"):
                duration = float(event["ts"]) - started
            if isinstance(duration, int | float) and duration >= 0:
                self.task_duration.observe(float(duration))
        elif name in ("TaskFailed", "TaskCancelled", "TaskRequeued") and isinstance(task, str):
            self._task_started.pop(task, None)

    def text(self) -> str:
        """The Prometheus text exposition of everything."""
        return generate_latest(self.registry).decode()


class MetricsServer:
    """``GET /metrics`` (or ``/``) over HTTP/1.0 on a loopback port, on the daemon's loop."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("metrics on http://%s:%s/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = head.split(b"\r\n", 1)[0].split()
            method = parts[0] if parts else b""
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
            if method not in (b"GET", b"HEAD"):
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path in (b"/", b"/metrics"):
                status, ctype = "200 OK", CONTENT_TYPE_LATEST
                body = self.metrics.text().encode()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"try /metrics\n"
            writer.write(
                f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ConnectionError:
            pass
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

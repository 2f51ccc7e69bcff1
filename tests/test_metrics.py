"""Prometheus metrics: a real scrape over 127.0.0.1 agrees with `wzp status --json` (#5)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import WzpEnv
from tests.observe_support import (
    PY,
    SLEEP,
    create_workspace,
    free_port,
    pane_yaml,
    pool_config,
)
from wzp_supervisor.metrics import Metrics
from wzp_supervisor.states import shown_state


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Metric samples by sample name (``errors_total``, ``wzp_agents``…)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    for sample_labels, sample_value in found[name]:
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return sample_value
    raise AssertionError(f"no sample {name} {labels}")


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        body: bytes = reply.read()
        assert reply.headers["Content-Type"].startswith("text/plain")
    return body.decode()


def test_scrape_over_loopback_agrees_with_status_json(wzp_env: WzpEnv) -> None:
    port = free_port()
    panes = (
        pane_yaml("ok1", "top_left", SLEEP)
        + pane_yaml("ok2", "top_right", SLEEP)
        + pane_yaml(
            "bad",
            "bottom_left",
            [PY, "-c", "import sys; sys.exit(3)"],
            restart_policy="on-failure",
            max_retries=1,
        )
        + pane_yaml("idle1", "bottom_right", SLEEP)
    )
    wzp_env.write_config(pool_config(panes, extra=f"metrics:\n  enabled: true\n  port: {port}\n"))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    wzp_env.wzp("stop", "demo/idle1", check=True)

    def settled() -> dict[str, Any] | None:
        status = wzp_env.status()
        states = {p["target"]: p["state"] for p in status["processes"]}
        rss_known = all(p["rss"] > 0 for p in status["processes"] if p["state"] == "running")
        if (
            states.get("demo/bad") == "fatal"
            and states.get("demo/idle1") == "stopped"
            and rss_known
        ):
            return status
        return None

    status = wzp_env.wait_for(settled, what="fatal, stopped and sampled processes")
    found = samples(scrape(port))
    procs = status["processes"]
    assert value(found, "workspaces_active") == len(status["workspaces"]) == 1
    assert value(found, "processes_active") == sum(1 for p in procs if p["pid"]) == 2
    by_state = Counter(shown_state(p) for p in procs)
    for labels, count in found["wzp_agents"]:
        assert count == by_state.get(labels["state"], 0), labels
    assert value(found, "wzp_agents", state="fatal") == 1
    assert value(found, "errors_total") >= 1  # the fatal one published an Error
    for proc in procs:
        assert value(found, "wzp_agent_restarts_total", target=proc["target"]) == proc["restarts"]
        if proc["state"] == "running":
            assert value(found, "wzp_agent_rss_bytes", target=proc["target"]) > 0
            assert value(found, "wzp_agent_processes", target=proc["target"]) >= 1
    assert "task_duration_seconds_count" in found
    assert "wzp_daemon_process_resident_memory_bytes" in found

    cli = wzp_env.wzp("metrics", check=True).stdout
    cli_found = samples(cli)
    assert value(cli_found, "workspaces_active") == 1
    assert value(cli_found, "wzp_agents", state="fatal") == 1

    with pytest.raises(urllib.error.HTTPError) as err:
        scrape(port, "/nope")
    assert err.value.code == 404


SPECIFIED = {"workspaces_active", "processes_active", "task_duration_seconds", "errors"}


def test_metric_names_are_the_four_specified_or_share_the_wzp_prefix() -> None:
    proc = {"target": "w/p", "workspace": "w", "pane": "p", "state": "running", "pid": 1}
    metrics = Metrics(lambda: ([proc], [{"name": "w"}]))
    families = {f.name for f in text_string_to_metric_families(metrics.text())}
    assert families >= SPECIFIED  # errors is exposed as errors_total
    companions = {f"{name}_created" for name in SPECIFIED}  # the client's own series
    others = families - SPECIFIED - companions
    assert others and all(name.startswith("wzp_") for name in others), sorted(others)
    assert {"wzp_agents", "wzp_agent_restarts", "wzp_agent_cpu_percent"} <= others


def test_metrics_disabled_by_default(daemon: WzpEnv) -> None:
    """No port is opened unless metrics.enabled; `wzp metrics` still works through the hub."""
    text = daemon.wzp("metrics", check=True).stdout
    assert value(samples(text), "workspaces_active") == 0


def test_counters_follow_events() -> None:
    metrics = Metrics(lambda: ([], []))
    metrics.on_event({"event": "Error", "reason": "x"})
    metrics.on_event({"event": "TaskCompleted", "duration": 12.5})
    metrics.on_event({"event": "TaskCompleted", "duration": "bad"})
    metrics.on_event({"event": "TaskStarted", "task": "t1", "ts": 100.0})
    metrics.on_event({"event": "TaskCompleted", "task": "t1", "ts": 103.0})
    metrics.on_event({"event": "TaskStarted", "task": "t2", "ts": 100.0})
    metrics.on_event({"event": "TaskFailed", "task": "t2", "ts": 101.0})
    metrics.on_event({"event": "TaskCompleted", "task": "t2", "ts": 200.0})  # not started now
    metrics.on_event({"event": "ProcessStarted"})
    found = samples(metrics.text())
    assert value(found, "errors_total") == 1
    assert value(found, "task_duration_seconds_count") == 2
    assert value(found, "task_duration_seconds_sum") == 15.5
    assert value(found, "task_duration_seconds_bucket", le="15.0") == 2
    assert value(found, "task_duration_seconds_bucket", le="5.0") == 1
    assert value(found, "task_duration_seconds_bucket", le="1.0") == 0

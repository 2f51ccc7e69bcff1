"""Observe (#5): the tree sampler, notifications, event log lines and the stats/top views."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WzpEnv
from tests.observe_support import (
    PY,
    SLEEP,
    create_workspace,
    hub,
    pane_yaml,
    pool_config,
    read_status,
    recorded,
    recorder,
)
from wzp_supervisor.config import NotificationsConfig
from wzp_supervisor.desktop_notify import BURST, Alert, Notifier, build_argv, default_command
from wzp_supervisor.sampler import Sampler

FAIL_FAST = [PY, "-c", "import sys; sys.exit(3)"]

# -- sampler ------------------------------------------------------------------------------


@pytest.fixture
def tree() -> Any:
    """A parent that sleeps and a child that burns cpu until killed."""
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        "time.sleep(1000)\n"
    )
    proc = subprocess.Popen([PY, "-c", code], start_new_session=True)
    yield proc
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("use_proc", [True, False], ids=["proc", "psutil"])
def test_sampler_measures_the_whole_tree(tree: subprocess.Popen[bytes], use_proc: bool) -> None:
    if use_proc and not sys.platform.startswith("linux"):
        pytest.skip("/proc reader is Linux only")
    sampler = Sampler(discover_every=1, use_proc=use_proc)
    deadline = time.monotonic() + 30
    sample = sampler.sample({"t": tree.pid, "none": None})["t"]
    while sample.nprocs < 2 or sample.cpu <= 0:  # the child starts, then uses cpu
        assert time.monotonic() < deadline, sample
        time.sleep(0.2)
        sample = sampler.sample({"t": tree.pid, "none": None})["t"]
    assert sample.nprocs == 2
    assert sample.rss > 0
    assert sampler.sample({"none": None})["none"].nprocs == 0
    assert sampler.tracked == 0  # forgotten (and its descriptors closed) when no longer asked


def test_sampler_forgets_dead_processes() -> None:
    proc = subprocess.Popen(SLEEP)
    sampler = Sampler()
    assert sampler.sample({"a": proc.pid})["a"].nprocs == 1
    proc.kill()
    proc.wait()
    assert sampler.sample({"a": proc.pid})["a"].nprocs == 0
    assert sampler.tracked == 0
    sampler.close()


# -- notifier units -----------------------------------------------------------------------


def test_build_argv_placeholders_and_defaults() -> None:
    alert = Alert("demo/a1", "waiting_input", "permission", "Claude needs your permission")
    argv = build_argv(alert, "T", alert.body, ("rec", "{target}", "{reason}: {message}"))
    assert argv == ["rec", "demo/a1", "permission: Claude needs your permission"]
    assert build_argv(alert, "T", "B", ("rec", "-x")) == ["rec", "-x", "T", "B"]
    linux = build_argv(alert, "T", "B", None, "linux", lambda name: f"/bin/{name}")
    assert linux == ["/bin/notify-send", "--app-name", "wezterm-parallel", "T", "B"]
    mac = build_argv(alert, 'a "T"', "B", None, "darwin", lambda name: name)
    assert mac == ["osascript", "-e", 'display notification "B" with title "a \\"T\\""']
    assert default_command("linux", lambda name: None) is None
    assert Alert("demo/a1", "fatal", "crash loop").body == "demo/a1 failed: crash loop"


def test_rate_limit_per_agent_and_burst() -> None:
    now = [0.0]
    notifier = Notifier(NotificationsConfig(min_interval=30.0), clock=lambda: now[0])
    assert notifier.allow(Alert("w/a", "fatal"))
    assert not notifier.allow(Alert("w/a", "waiting_input"))  # same agent within the interval
    for i in range(BURST - 1):
        assert notifier.allow(Alert(f"w/b{i}", "fatal"))
    assert not notifier.allow(Alert("w/c", "fatal"))  # the burst is used up
    assert notifier.held_back == 1
    now[0] = 31.0
    assert notifier.allow(Alert("w/a", "fatal"))
    assert notifier.allow(Alert("w/c", "fatal"))
    unlimited = Notifier(NotificationsConfig(min_interval=0), clock=lambda: 0.0)
    assert all(unlimited.allow(Alert("w/a", "fatal")) for _ in range(20))


# -- daemon: notifications ----------------------------------------------------------------


def with_recorder(env: WzpEnv, name: str = "notify-send") -> Path:
    """A recording ``notify-send`` first on the daemon's PATH; returns its log."""
    log = env.root / "notifications.jsonl"
    recorder(env.root / "bin", name, log)
    env.env["PATH"] = f"{env.root / 'bin'}:{env.env.get('PATH', '')}"
    return log


NOTIFY_CONFIG = "notifications:\n  min_interval: 0\n"


def test_fatal_agent_notifies_with_name_and_reason(wzp_env: WzpEnv) -> None:
    log = with_recorder(wzp_env)
    panes = pane_yaml(
        "crashy", "top_left", FAIL_FAST, restart_policy="on-failure", max_retries=1
    ) + pane_yaml("fine", "top_right", SLEEP)
    wzp_env.write_config(pool_config(panes, extra=NOTIFY_CONFIG))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    calls = wzp_env.wait_for(lambda: recorded(log), what="a notification")
    assert len(calls) == 1
    argv = calls[0]
    assert argv[:2] == ["--app-name", "wezterm-parallel"]
    body = argv[-1]
    assert "demo/crashy" in body and "failed" in body

    def crashy_fatal() -> dict[str, Any] | None:
        doc = read_status(wzp_env)  # rewritten just after the notification (debounced)
        agent = next((a for a in doc["agents"] if a["target"] == "demo/crashy"), None)
        return doc if agent is not None and agent["state"] == "fatal" else None

    status = wzp_env.wait_for(crashy_fatal, what="fatal in status.json")
    crashy = next(a for a in status["agents"] if a["target"] == "demo/crashy")
    assert crashy["reason"] in body
    trans = [t for t in status["transitions"] if t["target"] == "demo/crashy"]
    assert len(trans) == 1 and trans[0]["to"] == "fatal" and trans[0]["seq"] >= 1


def test_template_notify_false_and_configured_command(wzp_env: WzpEnv) -> None:
    log = wzp_env.root / "custom.jsonl"
    rec = recorder(wzp_env.root / "bin", "rec", log)
    extra = (
        "notifications:\n  min_interval: 0\n"
        f"  command: [{json.dumps(str(rec))}, '{{target}}', '{{state}}', '{{reason}}']\n"
    )
    fatal = pane_yaml("x", "main", FAIL_FAST, restart_policy="on-failure", max_retries=1)
    config = pool_config(
        pane_yaml("x", "top_left", FAIL_FAST, restart_policy="on-failure", max_retries=1),
        extra=extra,
    ) + (f"    quiet:\n      layout: single\n      notify: false\n      panes:\n{fatal}")
    wzp_env.write_config(config)
    wzp_env.wzp("up", check=True)
    hub("workspace.create", name="hush", template="quiet", dir=str(wzp_env.work))
    wzp_env.wait_for(lambda: wzp_env.process("hush/x")["state"] == "fatal", what="hush fatal")
    create_workspace(wzp_env, "loud")
    calls = wzp_env.wait_for(lambda: recorded(log), what="a notification")
    assert [c[:2] for c in calls] == [["loud/x", "fatal"]]
    assert "exited (code 3)" in calls[0][2]


def test_waiting_input_notifies_and_lists_oldest_first(wzp_env: WzpEnv) -> None:
    log = with_recorder(wzp_env)
    panes = pane_yaml("a1", "top_left", SLEEP, agent="claude") + pane_yaml(
        "a2", "top_right", SLEEP, agent="claude"
    )
    wzp_env.write_config(pool_config(panes, extra=NOTIFY_CONFIG))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    for target in ("demo/a1", "demo/a2"):
        wzp_env.wait_for(
            lambda t=target: wzp_env.process(t)["state"] == "running",
            what=f"{target} running",
        )
    for target in ("demo/a2", "demo/a1"):  # a2 waits first
        hub(
            "status.update",
            agent=target,
            event="Notification",
            payload={
                "notification_type": "permission_prompt",
                "message": "Claude needs your permission to use Bash",
            },
        )

    def both_waiting() -> dict[str, Any] | None:
        doc = read_status(wzp_env)
        return doc if len(doc["waiting"]) == 2 else None

    doc = wzp_env.wait_for(both_waiting, what="two waiting agents in status.json")
    assert [w["target"] for w in doc["waiting"]] == ["demo/a2", "demo/a1"]
    assert doc["waiting"][0]["message"] == "Claude needs your permission to use Bash"
    assert doc["totals"]["waiting_input"] == 2
    assert [t["target"] for t in doc["transitions"][-2:]] == ["demo/a2", "demo/a1"]
    calls = wzp_env.wait_for(lambda: len(recorded(log)) == 2 and recorded(log), what="2 calls")
    bodies = sorted(call[-1] for call in calls)
    assert "demo/a1 is waiting" in bodies[0] and "demo/a2 is waiting" in bodies[1]
    reason = doc["waiting"][0]["reason"]
    assert all(reason in body and "Claude needs your permission" in body for body in bodies)
    summary = wzp_env.wzp("status", "--format", "wezterm", check=True).stdout
    assert summary.startswith("⚡2 waiting")


# -- daemon: views and logs ---------------------------------------------------------------


def test_stats_top_and_event_log(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(pool_config(pane_yaml("s1", "top_left", SLEEP)))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")

    def sampled() -> dict[str, Any] | None:
        data: dict[str, Any] = json.loads(wzp_env.wzp("stats", "--json", check=True).stdout)
        procs = data["processes"]
        return data if procs and procs[0]["rss"] > 0 else None

    stats = wzp_env.wait_for(sampled, what="a sampled process")
    proc = stats["processes"][0]
    assert proc["target"] == "demo/s1" and proc["nprocs"] >= 1
    assert stats["totals"]["rss"] == proc["rss"]
    assert stats["daemon"]["pid"] == wzp_env.daemon_pid()
    assert stats["sampler"]["samples"] >= 1 and stats["status_file"]["bytes"] > 0

    table = wzp_env.wzp("stats", check=True).stdout
    assert "demo/s1" in table and "CPU" in table and "MEM" in table
    assert "| cpu" in wzp_env.wzp("status", "--format", "wezterm", check=True).stdout
    lines = wzp_env.wzp("top", "--json", "--count", "2", "--interval", "0.2", check=True).stdout
    frames = [json.loads(line) for line in lines.splitlines()]
    assert len(frames) == 2 and frames[1]["processes"][0]["target"] == "demo/s1"
    plain_top = wzp_env.wzp("top", "--count", "1", check=True).stdout
    assert "demo/s1" in plain_top

    entries = [
        json.loads(line)
        for line in (wzp_env.state_dir / "logs" / "daemon.jsonl").read_text().splitlines()
    ]
    started = [e for e in entries if e.get("event") == "ProcessStarted"]
    assert started and started[0]["process"] == "demo/s1"
    assert started[0]["workspace"] == "demo" and "reason" in started[0]
    assert any(e.get("event") == "WorkspaceCreated" for e in entries)


def test_views_without_daemon_exit_3(wzp_env: WzpEnv) -> None:
    for args in (("stats",), ("metrics",), ("top", "--count", "1")):
        result = wzp_env.wzp(*args)
        assert result.returncode == 3, (args, result.stderr)
        assert "wzp up" in result.stderr


def test_current_task_in_status_json_and_its_duration_in_metrics(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(pool_config(pane_yaml("a1", "top_left", SLEEP, agent="claude")))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    wzp_env.wait_for(lambda: wzp_env.process("demo/a1")["state"] == "running", what="running")
    hub("status.update", agent="demo/a1", event="SessionStart", payload={"session_id": "s-1"})
    wzp_env.wait_for(lambda: wzp_env.process("demo/a1").get("agent_state") == "idle", what="idle")
    task = hub("task.request", target="demo/a1", prompt="refactor   the parser\nplease")["task"]

    def with_task() -> dict[str, Any] | None:
        agents = read_status(wzp_env)["agents"]  # written before the workspace existed?
        return agents[0] if agents and agents[0]["task"] else None

    agent = wzp_env.wait_for(with_task, what="the task in status.json")
    assert agent["task"] == {"id": task["id"], "prompt": "refactor the parser please"}
    hub(
        "status.update",
        agent="demo/a1",
        event="Stop",
        payload={"last_assistant_message": "done"},
    )
    wzp_env.wait_for(lambda: read_status(wzp_env)["agents"][0]["task"] is None, what="no task")
    text = wzp_env.wzp("metrics", check=True).stdout
    assert "task_duration_seconds_count 1.0" in text

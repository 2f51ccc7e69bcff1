"""Pools of headless Claude Code workers: the real CLI in ``-p`` stream-json mode, driven by a
real daemon under Circus, against the loopback model stub."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.claude_env import claude_binary
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.pool_support import (
    daemon_log,
    hub,
    pool_config,
    start_daemon,
    the_pool,
    wait_all,
    wait_until,
)
from wzp_supervisor import paths
from wzp_supervisor.cli.hub_client import DaemonNotRunning, RequestFailed
from wzp_supervisor.config import ConfigError, parse_config_text
from wzp_supervisor.preflight import config_warnings
from wzp_supervisor.task_model import Task

pytestmark = pytest.mark.timeout(600)


def workers() -> list[psutil.Process]:
    """Live worker processes of this test's daemon (children running ``-p``)."""
    pid_file = Path(os.environ["XDG_RUNTIME_DIR"]) / "wezterm-parallel" / "daemon.pid"
    daemon = psutil.Process(int(pid_file.read_text()))
    found = []
    for child in daemon.children():
        try:
            if "stream-json" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


class Sampler:
    """Counts the live workers in a background thread; ``peak`` is the most seen at once."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error, OSError, ValueError):
                self.peak = max(self.peak, len(workers()))
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


@pytest.fixture
def stub(model_stub: ModelStub) -> Iterator[ModelStub]:
    yield model_stub


def test_forty_tasks_over_four_workers_each_get_exactly_one_result(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=4)
    sampler = Sampler()
    ids = [hub("task.submit", prompt=f"job-{i:02d}", pool="batch")["task"]["id"] for i in range(40)]
    tasks = wait_all(ids)
    peak = sampler.stop()
    assert 1 <= peak <= 4
    for i, task in enumerate(tasks):
        assert task["state"] == "done", task
        assert task["pool"] == "batch"
        result = task["result"]
        assert result["text"] == f"stub reply: job-{i:02d}"
        assert result["is_error"] is False and result["subtype"] == "success"
        assert result["cost_usd"] > 0 and result["session_id"]
        assert result["worker"].startswith("batch/w")
    answered = [r.last_user_text() for r in stub.main_requests()]
    assert sorted(answered) == sorted(f"job-{i:02d}" for i in range(40))  # each exactly once
    listing = hub("pool.list")["pools"]
    [batch] = listing
    assert 1 <= len(batch["workers"]) <= 4 and batch["queued"] == 0
    total = sum(w["cost_usd"] for w in batch["workers"])
    assert total == pytest.approx(sum(t["result"]["cost_usd"] for t in tasks), rel=1e-6)
    assert hub("task.list", pool="batch", limit=100)["tasks"][0]["pool"] == "batch"


def test_unknown_pool_and_oversize_prompt_are_refused(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, min=0, max=1)
    with pytest.raises(RequestFailed) as err:
        hub("task.submit", prompt="x", pool="nope")
    assert err.value.code == "not_found" and "nope" in str(err.value)
    with pytest.raises(RequestFailed) as err:
        hub("task.submit", prompt="x" * 100_001, pool="batch")
    assert err.value.code == "limit"


def busy_worker(task_id: str, stub: ModelStub, asked: int) -> dict[str, Any]:
    """The worker running ``task_id`` once its request reached the stub (``asked`` main
    requests in all)."""

    def found() -> dict[str, Any] | None:
        if len(stub.main_requests()) < asked:
            return None
        task = hub("task.show", task=task_id)["task"]
        for worker in the_pool()["workers"]:
            if task["state"] == "running" and worker["name"] == task["agent"]:
                return dict(worker)
        return None

    worker: dict[str, Any] = wait_until(found, f"{task_id} running on a worker")
    return worker


def test_a_worker_killed_mid_task_retries_once_then_fails(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, min=0, max=2)
    stub.reply_stall()
    stub.reply_stall()
    task_id = hub("task.submit", prompt="hang", pool="batch")["task"]["id"]
    first = busy_worker(task_id, stub, 1)
    os.kill(first["pid"], signal.SIGKILL)
    second = busy_worker(task_id, stub, 2)
    assert second["pid"] != first["pid"]
    task = hub("task.show", task=task_id)["task"]
    assert task["requeues"] == 1 and task["session"] == "new"
    assert second["session_id"] != first["session_id"]
    os.kill(second["pid"], signal.SIGKILL)
    reply = hub("task.wait", task=task_id, timeout=30)
    assert reply["done"] and reply["task"]["state"] == "failed"
    assert "killed by SIGKILL mid-task" in reply["task"]["error"]
    assert "twice" in reply["task"]["error"]
    # the pool still works
    done = hub("task.submit", prompt="after", pool="batch", wait=True, timeout=50)
    assert done["done"] and done["response"] == "stub reply: after"


def test_cancel_interrupts_the_turn_and_the_worker_takes_the_next_task(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=1)
    stub.reply_stall()
    first = hub("task.submit", prompt="long one", pool="batch")["task"]["id"]
    worker = busy_worker(first, stub, 1)
    queued = hub("task.submit", prompt="next one", pool="batch")["task"]["id"]
    cancelled = hub("task.cancel", task=first)
    assert cancelled["was"] == "running" and cancelled["task"]["state"] == "cancelled"
    reply = hub("task.wait", task=queued, timeout=50)
    assert reply["done"] and reply["task"]["state"] == "done", reply
    assert reply["response"] == "stub reply: next one"
    assert reply["task"]["result"]["worker"] == worker["name"]
    [same] = the_pool()["workers"]
    assert same["pid"] == worker["pid"] and same["turns"] == 2
    assert hub("task.show", task=first)["task"]["state"] == "cancelled"


def test_a_429_pauses_dispatch_until_the_reset_and_fails_no_task(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=2)
    stub.reply_error(429, "rate limited", headers={"retry-after": "6"})
    first = hub("task.submit", prompt="first", pool="batch")["task"]["id"]
    until = wait_until(lambda: the_pool()["rate_limited_until"], "the pool to pause")
    second = hub("task.submit", prompt="second", pool="batch")["task"]["id"]
    status_json = Path(os.environ["XDG_RUNTIME_DIR"]) / "wezterm-parallel" / "status.json"

    def shown_paused() -> bool:
        pools = json.loads(status_json.read_text()).get("pools", {})
        return bool(pools.get("batch", {}).get("rate_limited_until") == until)

    wait_until(shown_paused, "status.json to show the pause")
    assert hub("task.show", task=second)["task"]["state"] == "queued"
    tasks = wait_all([first, second])
    assert [t["state"] for t in tasks] == ["done", "done"]
    assert tasks[1]["started"] >= until
    assert tasks[0]["result"]["text"] == "stub reply: first"


def test_idle_workers_are_reaped_down_to_min(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, min=1, max=3, idle_timeout=1)
    wait_until(lambda: len(workers()) == 1, "the warm spare")
    stub.reply_stall(seconds=2)
    stub.reply_stall(seconds=2)
    ids = [hub("task.submit", prompt=f"p{i}", pool="batch")["task"]["id"] for i in range(3)]
    wait_until(lambda: len(workers()) == 3, "three workers")
    tasks = wait_all(ids)
    assert all(t["state"] == "done" for t in tasks), tasks
    wait_until(
        lambda: len(workers()) == 1 and len(the_pool()["workers"]) == 1,
        "the idle workers to be stopped",
    )
    [spare] = the_pool()["workers"]
    assert spare["state"] == "idle" and psutil.Process(spare["pid"]).is_running()


def test_a_malformed_worker_line_is_logged_and_skipped(wzp_env: WzpEnv, stub: ModelStub) -> None:
    noisy = ["/bin/sh", "-c", 'printf \'not json\\n[1]\\n\'; exec "$0" "$@"', str(claude_binary())]
    start_daemon(wzp_env, stub, min=0, max=1, command=noisy)
    reply = hub("task.submit", prompt="still fine", pool="batch", wait=True, timeout=50)
    assert reply["done"] and reply["response"] == "stub reply: still fine"
    log = daemon_log(wzp_env)
    assert "skipped a line that is not a JSON message: not json" in log
    assert "skipped a line that is not a JSON message: [1]" in log


def test_a_worker_is_recycled_after_its_turn_limit_and_events_carry_the_pool(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=1, max_turns_per_worker=2)
    tasks = [
        hub("task.submit", prompt=f"r{i}", pool="batch", wait=True, timeout=50)["task"]
        for i in range(3)
    ]
    assert [t["state"] for t in tasks] == ["done"] * 3
    names = [t["result"]["worker"] for t in tasks]
    assert names[0] == names[1] != names[2]
    events = hub("events.recent", limit=500)["events"]
    started = [e for e in events if e["event"] == "TaskStarted"]
    completed = [e for e in events if e["event"] == "TaskCompleted"]
    assert [e["pool"] for e in started] == ["batch"] * 3
    assert all(e["pool"] == "batch" and e["cost_usd"] > 0 for e in completed)
    metrics = hub("metrics")["text"]
    assert 'wzp_task_cost_usd_total{pool="batch"}' in metrics
    assert 'wzp_pool_queue_depth{pool="batch"} 0.0' in metrics
    assert "task_duration_seconds_count 3.0" in metrics
    status = hub("status")
    assert status["pools"][0]["name"] == "batch"
    for args in (("status",), ("list",), ("task", "list")):
        wzp_env.wzp(*args, check=True)  # the views take the pools and pool tasks in their stride


def test_the_seed_task_request_routes_to_a_pool_named_as_its_workspace(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(paths.hub_socket()))
        request = {"TaskRequest": {"id": 7, "workspace": "batch", "command": "seeded"}}
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            assert chunk, "the hub closed the connection"
            data += chunk
    answer = json.loads(data)["TaskResponse"]
    assert answer["id"] == 7 and answer["done"] is True and answer["state"] == "done"
    assert answer["result"] == "stub reply: seeded"


@pytest.mark.parametrize(
    ("pool", "error"),
    [
        ("{min: 3, max: 2}", "x.yaml:3: pools.batch.max: max (2) is below min (3)"),
        ("{mx: 2}", "x.yaml:3: pools.batch.mx: unknown key; did you mean 'max'?"),
        ("{permission_mode: yolo}", "x.yaml:3: pools.batch.permission_mode:"),
        ("{cwd: relative/dir}", "x.yaml:3: pools.batch.cwd:"),
    ],
)
def test_bad_pool_config_names_the_file_line_and_key(pool: str, error: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text(f"framework: {{}}\npools:\n  batch: {pool}\n", "x.yaml")
    assert str(err.value).startswith(error)


FAKE_WORKER = Path(__file__).resolve().parent / "fake_stream_worker.py"


def test_a_rejecting_rate_limit_event_pauses_until_its_reset_and_the_task_waits(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=2, command=[sys.executable, str(FAKE_WORKER)])
    first = hub("task.submit", prompt="rate-limit:3", pool="batch")["task"]["id"]
    until = wait_until(lambda: the_pool()["rate_limited_until"], "the pool to pause")
    second = hub("task.submit", prompt="other", pool="batch")["task"]["id"]
    assert hub("task.show", task=second)["task"]["state"] == "queued"
    tasks = wait_all([first, second])
    assert [t["state"] for t in tasks] == ["done", "done"], tasks
    assert tasks[0]["result"]["text"] == "fake reply: rate-limit:3"
    assert tasks[0]["requeues"] == 0 and tasks[0]["attempts"] == 2
    assert all(t["started"] >= until for t in (tasks[0], tasks[1]))
    assert the_pool()["rate_limited_until"] is None


def test_workers_end_with_the_daemon_stopped_or_killed(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, min=2, max=2)
    spares = wait_until(lambda: workers() if len(workers()) == 2 else None, "two warm spares")
    wzp_env.wzp("down", check=True, timeout=60)
    for proc in spares:
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    wzp_env.wzp("up", check=True, timeout=60)
    spares = wait_until(lambda: workers() if len(workers()) == 2 else None, "two warm spares")
    daemon_pid = wzp_env.daemon_pid()
    assert daemon_pid is not None
    os.kill(daemon_pid, signal.SIGKILL)  # their stdin ends: they exit by themselves
    _, alive = psutil.wait_procs(spares, timeout=60)
    assert not alive, alive


def test_a_busy_worker_ends_with_a_killed_daemon(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, min=0, max=1)
    stub.reply_stall(seconds=3600)
    hub("task.submit", prompt="long turn", pool="batch")
    wait_until(lambda: the_pool()["running"] == 1 and stub.pending() == 0, "the stalled turn")
    busy = workers()
    assert len(busy) == 1
    daemon_pid = wzp_env.daemon_pid()
    assert daemon_pid is not None
    os.kill(daemon_pid, signal.SIGKILL)  # mid-turn: nobody would read its answer
    _, alive = psutil.wait_procs(busy, timeout=60)
    assert not alive, alive


@pytest.mark.parametrize("how", ["SIGKILL", "daemon.restart"])
def test_pool_tasks_acknowledged_before_the_daemon_went_away_are_run_by_the_next(
    wzp_env: WzpEnv, stub: ModelStub, how: str
) -> None:
    start_daemon(wzp_env, stub, min=0, max=1)
    stub.reply_stall(seconds=3600)
    running = hub("task.submit", prompt="cut short", pool="batch")["task"]["id"]
    wait_until(lambda: the_pool()["running"] == 1 and stub.pending() == 0, "the stalled turn")
    queued = hub("task.submit", prompt="waiting", pool="batch")["task"]["id"]
    stub.reply_text("answered after all")  # for the next turn: the task cut short, run again
    before = hub("ping")
    if how == "SIGKILL":
        os.kill(before["pid"], signal.SIGKILL)
        wzp_env.wzp("up", check=True, timeout=60)
    else:
        with contextlib.suppress(RequestFailed, OSError):
            hub("daemon.restart")

    def fresh_daemon() -> bool:
        try:
            return bool(hub("ping")["uptime"] < before["uptime"])
        except (DaemonNotRunning, RequestFailed, OSError):
            return False

    wait_until(fresh_daemon, "the next daemon to answer")
    first, second = wait_all([running, queued])
    assert first["state"] == "done" and first["result"]["text"] == "answered after all", first
    assert second["state"] == "done" and second["result"]["text"] == "stub reply: waiting"


def test_a_pool_task_keeps_its_structured_result_through_the_state_file() -> None:
    task = Task(id="t1", seq=1, prompt="p", pool="batch", session="new", state="done")
    task.result = "text"
    task.outcome = {"text": "text", "is_error": False, "cost_usd": 0.1, "worker": "batch/w1"}
    saved = task.to_json()
    assert saved["result"] == task.outcome and "outcome" not in saved
    back = Task.from_json(json.loads(json.dumps(saved)))
    assert back is not None and back == task
    plain = Task(id="t2", seq=2, prompt="q", result="answer").to_json()
    assert plain["result"] == "answer" and plain["pool"] is None


def test_sessions_new_reuse_and_resume(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_daemon(wzp_env, stub, min=0, max=3)

    def run(prompt: str, **fields: Any) -> dict[str, Any]:
        reply = hub("task.submit", prompt=prompt, pool="batch", wait=True, timeout=50, **fields)
        assert reply["done"], reply
        task: dict[str, Any] = reply["task"]
        return task

    first = run("remember-me")["result"]
    session, worker = first["session_id"], first["worker"]
    again = run("again", session=session)["result"]
    assert again["worker"] == worker and again["session_id"] == session
    fresh = run("fresh", session="new")["result"]
    assert fresh["worker"] != worker and fresh["session_id"] != session
    missing = run("lost", session="3f0c5a0e-0000-4000-8000-000000000000")
    assert missing["state"] == "failed"
    assert "No conversation found" in missing["error"]
    [holder] = [w for w in the_pool()["workers"] if w["name"] == worker]
    os.kill(holder["pid"], signal.SIGKILL)
    wait_until(lambda: worker not in [w["name"] for w in the_pool()["workers"]], "its exit")
    resumed = run("resumed", session=session)
    assert resumed["state"] == "done" and resumed["result"]["worker"] != worker
    last = stub.main_requests()[-1]
    assert "remember-me" in json.dumps(last.body)  # the conversation went on
    with pytest.raises(RequestFailed) as err:
        hub("task.submit", prompt="x", pool="batch", session="no spaces allowed")
    assert err.value.code == "invalid"


def test_a_pool_whose_program_is_missing_fails_its_tasks_naming_it(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=2, command=["/nonexistent/claude"])
    reply = hub("task.submit", prompt="x", pool="batch", wait=True, timeout=30)
    assert reply["done"] and reply["task"]["state"] == "failed"
    assert "could not start /nonexistent/claude" in reply["task"]["error"]
    assert "No such file or directory" in reply["task"]["error"]
    assert hub("status")["daemon"]["pid"] == wzp_env.daemon_pid()


def test_config_check_warns_about_a_pool_program_that_cannot_run() -> None:
    config = parse_config_text(
        "pools:\n  b:\n    command: [/nope/claude]\n    environment: {X: '${WZP_UNSET_ZZ}'}\n",
        "x.yaml",
    )
    shown = [str(w) for w in config_warnings(config, {"PATH": "/usr/bin"})]
    assert "x.yaml:3: warning: pools.b.command: /nope/claude: no such file; " in shown[-2]
    assert shown[-1].startswith("x.yaml:4: warning: pools.b.environment.X: ${WZP_UNSET_ZZ}")


def test_a_pool_added_by_reload_takes_tasks_and_a_removed_one_is_gone(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=1)
    config = json.loads(pool_config(wzp_env, stub, min=0, max=1))
    config["pools"]["extra"] = config["pools"].pop("batch")
    (wzp_env.config_dir / "config.yaml").write_text(json.dumps(config))
    wzp_env.wzp("reload", "--wait", check=True, timeout=60)

    def extra_listed() -> bool:
        return [p["name"] for p in hub("pool.list")["pools"]] == ["extra"]

    wait_until(extra_listed, "the reloaded pools")
    reply = hub("task.submit", prompt="hello", pool="extra", wait=True, timeout=50)
    assert reply["done"] and reply["response"] == "stub reply: hello"
    with pytest.raises(RequestFailed) as err:
        hub("task.submit", prompt="x", pool="batch")
    assert err.value.code == "not_found" and "extra" in err.value.message


def test_concurrency_bounds_the_running_tasks_below_max(wzp_env: WzpEnv, stub: ModelStub) -> None:
    fake = [sys.executable, str(FAKE_WORKER)]
    start_daemon(wzp_env, stub, min=0, max=4, concurrency=2, command=fake)
    ids = [hub("task.submit", prompt="sleep:0.5", pool="batch")["task"]["id"] for _ in range(6)]
    peak = 0
    while True:
        pool = the_pool()
        peak = max(peak, pool["running"], sum(w["state"] == "busy" for w in pool["workers"]))
        if not pool["queued"] and not pool["running"]:
            break
        time.sleep(0.02)
    assert peak == 2
    assert [t["state"] for t in wait_all(ids)] == ["done"] * 6


def test_a_spare_that_dies_at_start_is_retried_with_backoff_not_in_a_loop(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=1, max=1, command=["/bin/false"])

    def failures() -> list[dict[str, Any]]:
        events = hub("events.recent", limit=1000)["events"]
        return [e for e in events if e["event"] == "Error" and "at start" in e["reason"]]

    wait_until(lambda: len(failures()) >= 2, "two failed starts")
    found = failures()
    assert "pool batch: worker batch/w1 exited (code 1) at start" in found[0]["reason"]
    starts = [
        e for e in hub("events.recent", limit=1000)["events"] if e["event"] == "PoolWorkerStarted"
    ]
    assert len(starts) < 10  # 1 s, 2 s, 4 s … between starts, not a tight loop
    assert hub("ping")["pid"] == wzp_env.daemon_pid()

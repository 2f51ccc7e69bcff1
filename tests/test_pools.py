"""Pools of headless Claude Code workers: the real CLI in ``-p`` stream-json mode, driven by a
real daemon under Circus, against the loopback model stub."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.claude_env import QUIET_ENV, TEST_API_KEY, claude_binary, seed_claude_home
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from wzp_supervisor.cli.hub_client import HubClient, RequestFailed

pytestmark = pytest.mark.timeout(600)


def hub(kind: str, timeout: float = 60, **fields: Any) -> dict[str, Any]:
    with HubClient(timeout=timeout) as client:
        return client.request(kind, **fields)


def pool_config(env: WzpEnv, stub: ModelStub, **settings: object) -> str:
    """A config with pool ``batch`` running the real CLI against ``stub``."""
    home = env.root / "home"
    work = env.root / "work"
    work.mkdir(exist_ok=True)
    seed_claude_home(home, work)
    environment = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": stub.url,
        "ANTHROPIC_API_KEY": TEST_API_KEY,
        **QUIET_ENV,
    }
    pool: dict[str, Any] = {
        "command": [str(claude_binary())],
        "cwd": str(work),
        "environment": environment,
        **settings,
    }
    return json.dumps({"pools": {"batch": pool}})


def start_daemon(env: WzpEnv, stub: ModelStub, **settings: object) -> None:
    env.config_dir.mkdir(parents=True, exist_ok=True)
    (env.config_dir / "config.yaml").write_text(pool_config(env, stub, **settings))
    env.wzp("up", check=True, timeout=60)


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
            try:
                self.peak = max(self.peak, len(workers()))
            except (psutil.Error, OSError, ValueError):
                pass
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


def wait_all(ids: list[str], timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    out = []
    for task_id in ids:
        while True:
            reply = hub("task.wait", task=task_id, timeout=20)
            if reply["done"]:
                out.append(reply["task"])
                break
            assert time.monotonic() < deadline, f"task {task_id} did not end: {reply}"
    return out


@pytest.fixture
def stub(model_stub: ModelStub) -> Iterator[ModelStub]:
    yield model_stub


def test_forty_tasks_over_four_workers_each_get_exactly_one_result(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_daemon(wzp_env, stub, min=0, max=4)
    sampler = Sampler()
    ids = [
        hub("task.submit", prompt=f"job-{i:02d}", pool="batch")["task"]["id"] for i in range(40)
    ]
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

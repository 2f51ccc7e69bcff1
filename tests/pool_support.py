"""Helpers for the tests of pools: a config whose pool runs the real Claude Code CLI against
the loopback model stub, a daemon started with it, and hub requests about the pool."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.claude_env import QUIET_ENV, TEST_API_KEY, claude_binary, seed_claude_home
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from wzp_supervisor.cli.hub_client import HubClient


def hub(kind: str, timeout: float = 60, **fields: Any) -> dict[str, Any]:
    """One request to this test's daemon."""
    with HubClient(timeout=timeout) as client:
        return client.request(kind, **fields)


def pool_config(env: WzpEnv, stub: ModelStub, name: str = "batch", **settings: object) -> str:
    """A config with pool ``name`` running the real CLI against ``stub`` in the work dir;
    ``settings`` are the pool's other keys."""
    home, work = env.root / "home", env.work
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
    return json.dumps({"pools": {name: pool}})


def start_daemon(env: WzpEnv, stub: ModelStub, name: str = "batch", **settings: object) -> None:
    """Write :func:`pool_config` and start the daemon."""
    env.write_config(pool_config(env, stub, name, **settings))
    env.wzp("up", check=True, timeout=60)


def the_pool() -> dict[str, Any]:
    """The ``pool.list`` entry of the one configured pool."""
    [pool] = hub("pool.list")["pools"]
    return dict(pool)


def wait_until(predicate: Any, what: str, timeout: float = 120) -> Any:
    """``predicate()`` once it is truthy; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_all(ids: list[str], timeout: float = 300) -> list[dict[str, Any]]:
    """The tasks ``ids`` once each has ended, in that order."""
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


def daemon_log(env: WzpEnv) -> str:
    """Everything the daemon has logged so far."""
    found = sorted((Path(env.env["XDG_STATE_HOME"]) / "wezterm-parallel" / "logs").glob("daemon*"))
    return "\n".join(p.read_text(errors="replace") for p in found)

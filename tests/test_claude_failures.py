"""Agent states you can trust, with the real Claude Code CLI against the loopback model stub:
API errors end the turn in ``error`` and fail the task, stalls become ``stalled``, permission
dialogs are answered by label through the hub, and pasted prompts arrive as text."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.claude_env import QUIET_ENV, claude_binary, claude_environment, seed_claude_home
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.test_tasks import hub, wait_agent, wait_tasks

PY = sys.executable
AGENT = "demo/agent-1"


@pytest.fixture
def stub() -> Iterator[ModelStub]:
    with ModelStub() as model:
        yield model


def start_claude(env: WzpEnv, stub: ModelStub, claude_code_extra: str = "") -> float:
    """A daemon with one real Claude agent in workspace ``demo``, idle; returns the time
    (``time.monotonic()``) it took to get there."""
    started = time.monotonic()
    home = env.root / "home"
    seed_claude_home(home, env.work)
    claude_env = claude_environment(home, stub.url, {"CLAUDE_CODE_MAX_RETRIES": "0"})
    env.env.update({**claude_env, "PATH": f"{Path(PY).parent}:{claude_env['PATH']}"})
    passthrough = ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "CLAUDE_CODE_MAX_RETRIES"]
    env.write_config(
        f"""
processes:
  claude_code:
    command: [{json.dumps(str(claude_binary()))}, "--permission-mode", "default"]
    env_passthrough: {json.dumps([*passthrough, *QUIET_ENV])}{claude_code_extra}
workspaces:
  default_template: solo
  templates:
    solo:
      layout: single
      panes:
        - name: agent-1
          position: main
"""
    )
    env.wzp("up", check=True)
    env.wzp("workspace", "create", "demo", "--dir", str(env.work), check=True)
    wait_agent(env, AGENT, "idle", timeout=90)
    return time.monotonic() - started


@pytest.mark.parametrize("status", [400, 429, 500])
def test_api_error_ends_in_error_fails_the_task_and_the_next_runs(
    wzp_env: WzpEnv, stub: ModelStub, status: int
) -> None:
    start_claude(wzp_env, stub)
    stub.reply_text("first answer")
    first = hub("task.request", target=AGENT, prompt="one", wait=True, timeout=60)
    assert first["done"] and first["response"] == "first answer"

    stub.reply_error(status, f"stub says no ({status})")
    failing = hub("task.request", target=AGENT, prompt="two")["task"]["id"]
    queued = hub("task.request", target=AGENT, prompt="three")["task"]["id"]
    started = time.monotonic()
    proc = wait_agent(wzp_env, AGENT, "error", timeout=90)
    print(f"HTTP {status} -> error state in {time.monotonic() - started:.1f} s")
    assert proc["agent_source"] == "hook"
    assert proc["agent_message"]
    (failed,) = wait_tasks(wzp_env, {failing})
    assert failed["state"] == "failed"
    assert failed["error"].startswith("API error:")
    # the agent is back at its prompt: the next task is delivered and answered
    (done,) = wait_tasks(wzp_env, {queued})
    assert done["state"] == "done", done
    assert done["result"] == "stub reply: three"
    wait_agent(wzp_env, AGENT, "idle")

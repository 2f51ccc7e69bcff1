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
from wzp_supervisor import paths
from wzp_supervisor.cli.hub_client import RequestFailed
from wzp_supervisor.session import control

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
    assert wzp_env.process(AGENT)["permission_mode"] == "default"  # from the hooks

    stub.reply_error(status, f"stub says no ({status})", prompt="two")
    failing = hub("task.request", target=AGENT, prompt="two")["task"]["id"]
    queued = hub("task.request", target=AGENT, prompt="three")["task"]["id"]
    started = time.monotonic()
    proc = wait_agent(wzp_env, AGENT, "error", timeout=90)
    print(f"HTTP {status} -> error state in {time.monotonic() - started:.1f} s")
    assert proc["agent_source"] == "hook"
    assert f"stub says no ({status})" in proc["agent_message"]
    (failed,) = wait_tasks(wzp_env, {failing})
    assert failed["state"] == "failed"
    assert failed["error"].startswith("API error:")
    assert f"stub says no ({status})" in failed["error"]
    # the agent is back at its prompt: the next task is delivered and answered
    (done,) = wait_tasks(wzp_env, {queued})
    assert done["state"] == "done", done
    assert done["result"] == "stub reply: three"
    wait_agent(wzp_env, AGENT, "idle")


def socket_of(target: str) -> Path:
    workspace, _, pane = target.partition("/")
    return paths.session_socket(workspace, pane)


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_answer_a_real_permission_dialog_by_label(
    wzp_env: WzpEnv, stub: ModelStub, answer: str
) -> None:
    start_claude(wzp_env, stub)
    with pytest.raises(RequestFailed, match="not waiting for input"):
        hub("agent.answer", target=AGENT, answer="yes")
    stub.reply_tool_use("Bash", {"command": "touch answered-file", "description": "make it"})
    stub.reply_text("after the dialog")
    task_id = hub("task.request", target=AGENT, prompt="make the file")["task"]["id"]
    wait_agent(wzp_env, AGENT, "waiting_input", timeout=60)
    sock = socket_of(AGENT)
    wzp_env.wait_for(lambda: "Do you want" in control.peek(sock).text, what="the dialog")
    # typing into the dialog is refused unless forced (Enter would pick "1. Yes")
    with pytest.raises(control.SessionError, match="permission dialog"):
        control.send_text(sock, "3", True)
    with pytest.raises(RequestFailed, match="matches no option"):
        hub("agent.answer", target=AGENT, answer="perhaps")
    reply = hub("agent.answer", target=AGENT, answer=answer)
    assert reply["label"].lower().startswith(answer)
    assert reply["dialog"]["question"]
    if answer == "yes":
        (task,) = wait_tasks(wzp_env, {task_id})
        assert task["state"] == "done" and task["result"] == "after the dialog"
        assert (wzp_env.work / "answered-file").exists()
    else:
        # "No, and tell Claude what to do differently": the tool does not run
        proc = wait_agent(wzp_env, AGENT, "idle")
        assert proc["agent_source"] == "screen"
        (task,) = wait_tasks(wzp_env, {task_id})
        assert task["state"] == "failed" and "answered" in task["error"]
        assert not (wzp_env.work / "answered-file").exists()
        assert stub.pending() == 1  # the model was never asked to go on with the tool's result


def test_a_prompt_with_escape_sequences_arrives_as_text(wzp_env: WzpEnv, stub: ModelStub) -> None:
    start_claude(wzp_env, stub)
    prompt = "alpha\x1b[201~beta\x1b]0;title\x07gamma\x00delta\x1b[2J omega"
    reply = hub("task.request", target=AGENT, prompt=prompt, wait=True, timeout=60)
    assert reply["done"], reply
    assert stub.main_requests()[-1].last_user_text() == "alphabetagammadelta omega"
    assert reply["response"] == "stub reply: alphabetagammadelta omega"


@pytest.mark.parametrize("on_stall", ["notify", "restart"])
def test_a_stream_that_stalls_makes_the_agent_stalled(
    wzp_env: WzpEnv, stub: ModelStub, on_stall: str
) -> None:
    extra = f"\n    health_check_interval: 0.5\n    stall_after: 3\n    on_stall: {on_stall}"
    start_claude(wzp_env, stub, extra)
    session_id = wzp_env.process(AGENT)["session_id"]
    stub.reply_stall(120)
    task_id = hub("task.request", target=AGENT, prompt="stall please")["task"]["id"]
    wait_agent(wzp_env, AGENT, "busy", timeout=60)
    started = time.monotonic()
    if on_stall == "notify":
        proc = wait_agent(wzp_env, AGENT, "stalled", timeout=60)
        print(f"stall -> stalled in {time.monotonic() - started:.1f} s")
        assert proc["agent_source"] == "health"
        assert "no output, hook or progress" in proc["agent_reason"]
        assert hub("task.show", task=task_id)["task"]["state"] == "running"
        failures = hub("agent.health")["agents"][AGENT]
        assert failures["stall_after"] == 3
        events = [e["event"] for e in hub("events.recent", limit=200)["events"]]
        assert "HealthCheckFailed" in events
        return
    (task,) = wait_tasks(wzp_env, {task_id})
    print(f"stall -> task failed and agent restarted in {time.monotonic() - started:.1f} s")
    assert task["state"] == "failed" and "stalled" in task["error"]
    changes = [
        e["state"]
        for e in hub("events.recent", limit=200)["events"]
        if e["event"] == "AgentStateChanged"
    ]
    assert "stalled" in changes
    # restarted and resumed: same session, answering again
    proc = wait_agent(wzp_env, AGENT, "idle", timeout=60)
    assert proc["restarts"] >= 1 or proc["session_id"] == session_id
    assert proc["session_id"] == session_id
    again = hub("task.request", target=AGENT, prompt="still there?", wait=True, timeout=60)
    assert again["done"] and again["response"] == "stub reply: still there?"


def test_down_up_with_running_and_queued_tasks_ends_every_task_once(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    start_claude(wzp_env, stub)
    stub.reply_stall(120)
    ids = [hub("task.request", target=AGENT, prompt=f"job {n}")["task"]["id"] for n in range(1, 4)]
    wait_agent(wzp_env, AGENT, "busy", timeout=60)
    assert [t["state"] for t in (hub("task.show", task=i)["task"] for i in ids)] == [
        "running",
        "queued",
        "queued",
    ]
    wzp_env.wzp("down", check=True)
    wzp_env.wzp("up", check=True)
    tasks = wait_tasks(wzp_env, set(ids), timeout=180)
    assert {t["id"]: t["state"] for t in tasks} == dict.fromkeys(ids, "done")
    asked = [r.last_user_text() for r in stub.main_requests()]
    assert asked.count("job 2") == 1 and asked.count("job 3") == 1
    assert asked.count("job 1") == 2  # stalled before the restart, answered after it
    wait_agent(wzp_env, AGENT, "idle")

"""Agent states from Claude Code hooks (issue #4): the real Claude Code CLI against the loopback
model stub under a real daemon, plus supervision states, session ids and `wzp hook` alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.claude_env import QUIET_ENV, claude_binary, claude_environment, seed_claude_home
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.test_tasks import fake_config, hub, start_agents, wait_agent

PY = sys.executable
AGENT = "demo/agent-1"


@pytest.fixture
def stub() -> Iterator[ModelStub]:
    with ModelStub() as model:
        yield model


def claude_config(env: WzpEnv) -> str:
    passthrough = ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", *QUIET_ENV]
    return f"""
processes:
  claude_code:
    command: [{json.dumps(str(claude_binary()))}, "--permission-mode", "default"]
    env_passthrough: {json.dumps(passthrough)}
workspaces:
  default_template: solo
  templates:
    solo:
      layout: single
      panes:
        - name: agent-1
          position: main
"""


def state_changes(target: str) -> list[tuple[str, str]]:
    """(previous, state) of every AgentStateChanged of ``target`` the daemon remembers."""
    events = hub("events.recent", limit=200)["events"]
    return [
        (e["previous"], e["state"])
        for e in events
        if e["event"] == "AgentStateChanged" and e["target"] == target
    ]


def test_real_claude_states_task_and_permission(wzp_env: WzpEnv, stub: ModelStub) -> None:
    home = wzp_env.root / "home"
    seed_claude_home(home, wzp_env.work)
    claude_env = claude_environment(home, stub.url)
    # the daemon runs with the agent's HOME/PATH/API settings; XDG dirs stay the test's
    daemon_env = {**claude_env, "PATH": f"{Path(PY).parent}:{claude_env['PATH']}"}
    wzp_env.env.update(daemon_env)
    wzp_env.write_config(claude_config(wzp_env))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)

    # starting → idle once SessionStart arrives; the session id is the one the holder chose
    proc = wait_agent(wzp_env, AGENT, "idle", timeout=60)
    assert ("starting", "idle") in state_changes(AGENT)
    recorded = (wzp_env.state_dir / "sessions" / "demo" / "agent-1.id").read_text().strip()
    assert proc["session_id"] == recorded
    assert proc["task"] is None

    # a task typed into the TUI: --wait prints the stub's text; the agent is idle again
    result = wzp_env.wzp("task", "send", AGENT, "hello stub", "--wait", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stub reply: hello stub"
    wait_agent(wzp_env, AGENT, "idle")
    assert stub.main_requests()[-1].last_user_text() == "hello stub"

    # a Bash tool_use that needs permission → waiting_input (permission)
    stub.reply_tool_use("Bash", {"command": "touch made-by-claude", "description": "make a file"})
    stub.reply_text("made the file")
    task_id = hub("task.request", target=AGENT, prompt="please make the file")["task"]["id"]
    waiting = wait_agent(wzp_env, AGENT, "waiting_input", timeout=60)
    assert waiting["agent_reason"] == "permission"
    assert "Bash" in waiting["agent_message"]
    assert "touch made-by-claude" in waiting["agent_message"]
    assert waiting["task"] == task_id

    # answering the dialog by its label ("1. Yes") → busy, then idle
    assert hub("agent.answer", target=AGENT, answer="yes")["label"] == "Yes"
    answer = hub("task.wait", task=task_id, timeout=25)
    assert answer["done"] and answer["response"] == "made the file"
    wait_agent(wzp_env, AGENT, "idle")
    assert (wzp_env.work / "made-by-claude").exists()
    changes = state_changes(AGENT)
    after = changes[changes.index(("busy", "waiting_input")) :]
    assert after[:3] == [("busy", "waiting_input"), ("waiting_input", "busy"), ("busy", "idle")]


def test_session_start_replaces_the_recorded_session_id(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    session_file = wzp_env.state_dir / "sessions" / "demo" / "a1.id"
    first = session_file.read_text().strip()
    assert wzp_env.process(target)["session_id"] == first
    new = str(uuid.uuid4())  # what /clear does: a SessionStart with a fresh id
    hub("status.update", agent=target, event="SessionStart", payload={"session_id": new})
    assert session_file.read_text().strip() == new
    assert wzp_env.process(target)["session_id"] == new
    hub("status.update", agent=target, event="SessionStart", payload={"session_id": "junk"})
    assert session_file.read_text().strip() == new
    # the next start resumes it (the fake agent gets the id the holder read)
    wzp_env.wzp("restart", target, check=True)
    wait_agent(wzp_env, target, "idle")
    assert session_file.read_text().strip() == new
    assert wzp_env.process(target)["session_id"] == new


def test_waiting_input_carries_reason_message_and_since(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    idle_since = wzp_env.process(target)["agent_since"]
    payload = {"notification_type": "elicitation_dialog", "message": "Pick one\nof these"}
    hub("status.update", agent=target, event="Notification", payload=payload)
    proc = wzp_env.process(target)
    assert proc["agent_state"] == "waiting_input"
    assert proc["agent_reason"] == "elicitation"
    assert proc["agent_message"] == "Pick one of these"
    assert proc["agent_since"] >= idle_since
    # idle_prompt (about 60 s late) changes nothing
    hub(
        "status.update",
        agent=target,
        event="Notification",
        payload={"notification_type": "idle_prompt", "message": "waiting"},
    )
    assert wzp_env.process(target)["agent_state"] == "waiting_input"
    hub("status.update", agent=target, event="UserPromptSubmit", payload={})
    proc = wzp_env.process(target)
    assert (proc["agent_state"], proc["agent_reason"], proc["agent_message"]) == (
        "busy",
        None,
        None,
    )
    text = wzp_env.wzp("status", check=True).stdout
    assert "busy" in text


def test_supervision_states_backoff_fatal_and_plain_panes(wzp_env: WzpEnv) -> None:
    config = fake_config(wzp_env, 1).replace(
        "max_instances: 8", "max_instances: 8\n    max_retries: 2"
    )
    config += f"""
    broken:
      layout: two_pane_horizontal
      panes:
        - name: bad
          position: left
          command: [{json.dumps(PY)}, "-c", "import sys; sys.exit(3)"]
          agent: claude
        - name: plain
          position: right
          command: [{json.dumps(PY)}, "-c", "import time; time.sleep(1000)"]
"""
    wzp_env.write_config(config)
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "x", "--template", "broken", "--dir", str(wzp_env.work))
    proc = wait_agent(wzp_env, "x/bad", "fatal")
    assert proc["state"] == "fatal"
    seen = {state for _, state in state_changes("x/bad")}
    assert {"starting", "exited", "backoff", "fatal"} <= seen
    plain = wzp_env.process("x/plain")
    assert plain["kind"] == "none"
    assert plain["agent_state"] is None and plain["agent_reason"] is None  # keys kept, null
    assert hub("status.update", agent="x/plain", event="Stop", payload={})["ignored"]
    with pytest.raises(Exception, match="no supervised process"):
        hub("status.update", agent="x/nope", event="Stop", payload={})


def test_wzp_hook_without_a_daemon_exits_zero(wzp_env: WzpEnv) -> None:
    env = {**wzp_env.env, "WZP_AGENT": "demo/agent-1"}
    payload = json.dumps({"session_id": str(uuid.uuid4()), "hook_event_name": "Stop"})
    started = time.monotonic()
    done = subprocess.run(
        [PY, "-m", "wzp_supervisor", "hook", "Stop"],
        input=payload,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = (time.monotonic() - started) * 1000
    print(f"wzp hook with no daemon: exit {done.returncode} in {elapsed:.0f} ms")
    assert done.returncode == 0
    assert done.stdout == ""

"""Issue #3 end to end: the real Claude Code CLI in a holder under the daemon, killed and
resumed with the same conversation."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil

from tests.claude_env import claude_environment, seed_claude_home
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.test_agent_states import AGENT, claude_config
from tests.test_tasks import wait_agent


def claude_child(holder_pid: int) -> psutil.Process:
    for child in psutil.Process(holder_pid).children(recursive=True):
        if any("--session-id" in arg or "--resume" in arg for arg in child.cmdline()):
            return child
    raise AssertionError("no claude process under the holder")


def test_send_peek_kill_and_resume(wzp_env: WzpEnv) -> None:
    with ModelStub() as stub:
        home = wzp_env.root / "home"
        seed_claude_home(home, wzp_env.work)
        claude_env = claude_environment(home, stub.url)
        wzp_env.env.update(
            {**claude_env, "PATH": f"{Path(sys.executable).parent}:{claude_env['PATH']}"}
        )
        wzp_env.write_config(claude_config(wzp_env))
        wzp_env.wzp("up", check=True)
        wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
        first = wait_agent(wzp_env, AGENT, "idle", timeout=60)

        wzp_env.wzp("send", AGENT, "remember the word pineapple", "--enter", check=True)
        wzp_env.wait_for(
            lambda: "stub reply: remember the word pineapple" in wzp_env.wzp("peek", AGENT).stdout,
            timeout=60,
            what="the stub's answer on screen",
        )
        wait_agent(wzp_env, AGENT, "idle")
        agent = claude_child(first["pid"])
        assert "--session-id" in agent.cmdline()
        session_id = (wzp_env.state_dir / "sessions" / "demo" / "agent-1.id").read_text().strip()
        # the CLI writes the transcript a moment after its Stop hook
        wzp_env.wait_for(
            lambda: list((home / ".claude" / "projects").rglob(f"{session_id}.jsonl")),
            what="the transcript written",
        )

        os.kill(agent.pid, signal.SIGKILL)  # the agent itself dies; its holder exits with it
        back = wzp_env.wait_for(
            lambda: (
                (p := wzp_env.process(AGENT))["pid"] not in (None, first["pid"])
                and p["state"] == "running"
                and p
            ),
            timeout=60,
            what="the agent back",
        )
        assert back["restarts"] >= 1
        resumed = wzp_env.wait_for(lambda: claude_child(back["pid"]), what="claude restarted")
        argv = resumed.cmdline()
        assert argv[argv.index("--resume") + 1] == session_id
        # the earlier exchange is back on screen, and the conversation goes on with it
        wzp_env.wait_for(
            lambda: "pineapple" in wzp_env.wzp("peek", AGENT).stdout,
            timeout=60,
            what="the earlier exchange on screen",
        )
        wait_agent(wzp_env, AGENT, "idle", timeout=60)
        wzp_env.wzp("send", AGENT, "what was the word", "--enter", check=True)
        wzp_env.wait_for(
            lambda: stub.main_requests()[-1].last_user_text() == "what was the word",
            timeout=60,
            what="the new prompt",
        )
        assert "pineapple" in str(stub.main_requests()[-1].body)  # the old exchange went along

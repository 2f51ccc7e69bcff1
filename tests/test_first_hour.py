"""The first hour of a new user: a clean HOME with only an API key exported, the built-in
``default`` template, the real Claude Code CLI against the loopback model stub: the agent
answers a prompt without any ``env_passthrough`` or ``environment`` written by the user."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.claude_env import (
    QUIET_ENV,
    TEST_API_KEY,
    claude_binary,
    claude_environment,
    seed_claude_home,
)
from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.test_tasks import wait_agent

AGENT = "demo/agent-1"


@pytest.fixture
def stub() -> Iterator[ModelStub]:
    with ModelStub() as model:
        yield model


def test_an_api_key_in_the_shell_is_enough(wzp_env: WzpEnv, stub: ModelStub) -> None:
    home = wzp_env.root / "home"
    # what `claude` itself keeps after its first run (onboarding done, the key approved)
    seed_claude_home(home, wzp_env.work)
    shell = claude_environment(home, stub.url)
    # the user's shell: HOME, PATH, the key and base URL (and the switches that keep the
    # CLI off the network in tests); nothing about wzp but its XDG dirs
    wzp_env.env.update(shell)
    wzp_env.env["PATH"] = f"{Path(sys.executable).parent}:{shell['PATH']}"
    assert set(shell) - {"HOME", "PATH", "TERM", "LANG", "SHELL", *QUIET_ENV} == {
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
    }
    # the one line a user without `claude` on PATH writes: where the CLI is
    config = wzp_env.write_config(
        f"processes:\n  claude_code:\n    command: [{json.dumps(str(claude_binary()))}]\n"
    )
    assert "env" not in config.read_text()

    wzp_env.wzp("up", check=True)
    wzp_env.wzp(
        "workspace",
        "create",
        "demo",
        "--template",
        "default",
        "--dir",
        str(wzp_env.work),
        check=True,
    )
    wait_agent(wzp_env, AGENT, "idle", timeout=50)
    result = wzp_env.wzp(
        "task", "send", AGENT, "first hour", "--wait", "--timeout", "45", timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stub reply: first hour"
    assert stub.main_requests()[-1].last_user_text() == "first hour"

    # the reply as the terminal showed it: words and spaces of the TUI kept
    plain = wzp_env.wzp("logs", AGENT, "--plain", check=True).stdout
    assert "stub reply: first hour" in plain
    assert "\x1b" not in plain
    # doctor reads the daemon's environment: the agents have a key
    doctor = json.loads(wzp_env.wzp("doctor", "--json").stdout)
    credentials = next(c for c in doctor["checks"] if c["name"] == "credentials")
    assert credentials["status"] == "ok", credentials
    assert "ANTHROPIC_API_KEY in the daemon's environment" in credentials["detail"]

    # the key reached the agent from memory only: no file of wzp's holds it
    for base in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        for path in Path(wzp_env.env[base]).rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert TEST_API_KEY.encode() not in path.read_bytes(), path

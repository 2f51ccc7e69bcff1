"""What environment a supervised pane gets: the allowlist, and a Claude agent's credentials
taken from the daemon's environment by default (never written to a file)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from wzp_supervisor.agent_environment import agent_environment, credential_names
from wzp_supervisor.templates import PaneSpec

DAEMON_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "ANTHROPIC_API_KEY": "sk-ant-secret",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    "ANTHROPIC_AUTH_TOKEN": "tok",
    "ANTHROPIC_MODEL": "claude-x",
    "CLAUDE_CODE_USE_BEDROCK": "1",
    "CLAUDE_CODE_USE_VERTEX": "1",
    "CLAUDE_CONFIG_DIR": "/home/u/.claude-work",
    "AWS_REGION": "us-east-1",
    "AWS_PROFILE": "dev",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_SECRET_ACCESS_KEY": "shh",
    "AWS_SESSION_TOKEN": "sess",
    "CLOUD_ML_REGION": "us-east5",
    "ANTHROPIC_VERTEX_PROJECT_ID": "proj",
    "GOOGLE_APPLICATION_CREDENTIALS": "/home/u/gcp.json",
    "DISABLE_AUTOUPDATER": "1",
    "GITHUB_TOKEN": "not-for-agents",
    "OPENAI_API_KEY": "not-for-claude",
}


def spec(agent: str, environment: dict[str, str] | None = None) -> PaneSpec:
    return PaneSpec(
        workspace="ws",
        pane="p",
        target="ws/p",
        position="main",
        argv=("claude",),
        agent=agent,  # type: ignore[arg-type]
        supervised=True,
        shell=False,
        cwd=Path("/tmp"),
        environment=MappingProxyType(environment or {}),
        restart_policy="always",
        min_uptime=10,
        max_retries=5,
        backoff_max=60,
        graceful_timeout=10,
        rlimits=MappingProxyType({}),
        isolation="none",
    )


def test_a_claude_agent_gets_its_credentials_from_the_daemon_by_default() -> None:
    env, missing = agent_environment(spec("claude"), DAEMON_ENV)
    assert missing == []
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_MODEL",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "CLAUDE_CONFIG_DIR",
        "AWS_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "CLOUD_ML_REGION",
        "ANTHROPIC_VERTEX_PROJECT_ID",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "DISABLE_AUTOUPDATER",
    ):
        assert env[name] == DAEMON_ENV[name], name
    assert "GITHUB_TOKEN" not in env
    assert "OPENAI_API_KEY" not in env


def test_other_panes_do_not_get_agent_credentials() -> None:
    env, _ = agent_environment(spec("none"), DAEMON_ENV)
    assert not [name for name in env if name.startswith(("ANTHROPIC_", "AWS_", "CLAUDE_"))]
    assert env["PATH"] == "/usr/bin:/bin"


def test_the_config_environment_wins_over_the_daemon_credentials() -> None:
    env, _ = agent_environment(
        spec("claude", {"ANTHROPIC_BASE_URL": "http://proxy", "ANTHROPIC_API_KEY": ""}),
        DAEMON_ENV,
    )
    assert env["ANTHROPIC_BASE_URL"] == "http://proxy"
    assert "ANTHROPIC_API_KEY" not in env  # set empty in the config: the agent has none


def test_credentials_can_be_turned_off() -> None:
    env, _ = agent_environment(spec("claude"), DAEMON_ENV, credentials=False)
    assert "ANTHROPIC_API_KEY" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_credential_names_are_those_present_in_the_environment() -> None:
    names = credential_names("claude", DAEMON_ENV)
    assert "ANTHROPIC_API_KEY" in names and "GITHUB_TOKEN" not in names
    assert credential_names("none", DAEMON_ENV) == []

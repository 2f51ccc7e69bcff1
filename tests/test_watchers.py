"""Template → pane specs → Circus watcher options (pure functions)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import WzpEnv
from wzp_supervisor import paths, templates
from wzp_supervisor.agent_environment import agent_environment
from wzp_supervisor.config import parse_config_text
from wzp_supervisor.watcher_plan import plan_watcher, target_of, watcher_name

CONFIG = """
processes:
  claude_code:
    command: ["claude", "--model", "x"]
    restart_policy: on-failure
    timeout: 7
    environment:
      ANTHROPIC_API_KEY: ${ANTHROPIC_API_KEY}
      FIXED: one
    env_passthrough: [EXTRA_PASS]
workspaces:
  templates:
    t:
      layout: two_pane_horizontal
      rlimits: {nofile: 512}
      panes:
        - name: agent
          position: left
        - name: dev
          position: right
          command: npm run dev
          restart_policy: always
          max_retries: 9
"""


@pytest.fixture
def specs(wzp_env: WzpEnv, tmp_path: Path) -> list[templates.PaneSpec]:
    cfg = parse_config_text(CONFIG, "test.yaml")
    return templates.expand_workspace("ws", tmp_path, cfg.templates["t"], cfg)


def test_claude_pane_runs_in_a_holder_with_resume_support(specs: list[templates.PaneSpec]) -> None:
    plan = plan_watcher(specs[0], {"PATH": "/bin", "ANTHROPIC_API_KEY": "k"})
    assert plan.name == "ws.agent"
    assert target_of(plan.name) == "ws/agent"
    argv = [plan.cmd, *plan.options["args"]]
    assert argv[:3] == [sys.executable, "-m", "wzp_supervisor.session.holder"]
    assert argv[argv.index("--socket") + 1] == str(paths.session_socket("ws", "agent"))
    assert argv[argv.index("--agent") + 1] == "claude"
    assert argv[argv.index("--session-file") + 1] == str(paths.session_id_file("ws", "agent"))
    assert argv[argv.index("--rlimit") + 1] == "nofile=512"
    assert argv[argv.index("--") + 1 :] == ["claude", "--model", "x"]
    options = plan.options
    assert options["respawn"] is False  # our policy restarts, not circus
    assert options["graceful_timeout"] == 7
    assert options["copy_env"] is False
    assert options["working_dir"] == str(specs[0].cwd)


def test_plain_pane_has_no_agent_flags_and_its_own_policy(specs: list[templates.PaneSpec]) -> None:
    dev = specs[1]
    assert dev.agent == "none"
    assert dev.restart_policy == "always"
    assert dev.max_retries == 9
    argv = [*plan_watcher(dev, {}).options["args"]]
    assert "--agent" not in argv
    assert argv[argv.index("--") + 1 :] == ["npm", "run", "dev"]


def test_environment_is_scrubbed_and_resolved_at_spawn(specs: list[templates.PaneSpec]) -> None:
    daemon_env = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C",
        "XDG_DATA_HOME": "/d",
        "SECRET_TOKEN": "nope",
        "EXTRA_PASS": "yes",
        "ANTHROPIC_API_KEY": "sk-123",
    }
    env, missing = agent_environment(specs[0], daemon_env, ("EXTRA_PASS",))
    assert env["PATH"] == "/usr/bin"
    assert env["LC_ALL"] == "C"
    assert env["XDG_DATA_HOME"] == "/d"
    assert env["EXTRA_PASS"] == "yes"
    assert "SECRET_TOKEN" not in env
    assert env["ANTHROPIC_API_KEY"] == "sk-123"
    assert env["FIXED"] == "one"
    assert env["WZP_AGENT"] == "ws/agent"
    assert missing == []
    _, missing = agent_environment(specs[0], {"PATH": "/bin"})
    assert missing == ["ANTHROPIC_API_KEY"]


def test_watcher_name_round_trips() -> None:
    assert target_of(watcher_name("a-b", "c_d")) == "a-b/c_d"

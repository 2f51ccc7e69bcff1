"""What an attached view says while its agent is down, taken from the daemon's view."""

from __future__ import annotations

from tests.conftest import WzpEnv
from tests.test_daemon import config_with, pane, start
from wzp_supervisor.cli.session_cmds import supervisor_line
from wzp_supervisor.session.attach import ExitStatus


def test_line_names_backoff_delay_and_attempt(wzp_env: WzpEnv) -> None:
    start(
        wzp_env,
        config_with(
            pane(
                "bad",
                "top_left",
                "import sys; sys.exit(1)",
                min_uptime=5,
                max_retries=4,
                backoff_max=30,
            )
        ),
    )
    wzp_env.wait_for(lambda: wzp_env.process("demo/bad")["attempt"] >= 3, what="attempt 3")
    line = supervisor_line("demo/bad", ExitStatus(code=1, signal=None))
    assert line.startswith("bad exited (code 1); restarting in ")
    assert "(attempt 3)" in line or "(attempt 4)" in line or "is fatal" in line
    wzp_env.wait_for(lambda: wzp_env.process("demo/bad")["state"] == "fatal", what="fatal")
    line = supervisor_line("demo/bad", ExitStatus(code=1, signal=None))
    assert "is fatal" in line
    assert "wzp start demo/bad" in line


def test_line_without_daemon_falls_back(wzp_env: WzpEnv) -> None:
    line = supervisor_line("demo/agent-1", ExitStatus(code=None, signal=9))
    assert line.startswith("agent-1 exited (signal 9")

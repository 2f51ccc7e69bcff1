"""What the CLI shows of agent states: SINCE is the time in the shown state, broadcast says
what each agent it queued for is doing, and `wzp answer` refuses an agent that is not asking."""

from __future__ import annotations

import time

from tests.conftest import WzpEnv
from tests.test_tasks import hub, start_agents, wait_agent


def test_since_is_the_time_in_the_shown_state_not_the_uptime(wzp_env: WzpEnv) -> None:
    (a1,) = start_agents(wzp_env, 1)
    time.sleep(3.2)  # so uptime reads at least 3s
    hub("status.update", agent=a1, event="UserPromptSubmit", payload={})
    wait_agent(wzp_env, a1, "busy")
    text = wzp_env.wzp("status", check=True).stdout
    row = next(line.split() for line in text.splitlines() if line.startswith(a1))
    # TARGET STATE PID UPTIME RESTARTS SINCE ...
    assert row[1] == "busy"
    assert row[3].endswith("s") and int(row[3][:-1]) >= 3
    assert row[5] in ("0s", "1s", "2s"), row


def test_broadcast_says_what_each_queued_agent_is_doing(wzp_env: WzpEnv) -> None:
    a1, a2 = start_agents(wzp_env, 2)
    hub("task.request", target=a1, prompt="sleep=20 busy for a while")
    wait_agent(wzp_env, a1, "busy")
    hub(
        "status.update",
        agent=a2,
        event="Notification",
        payload={"notification_type": "permission_prompt", "message": "Bash?"},
    )
    wait_agent(wzp_env, a2, "waiting_input")
    out = wzp_env.wzp("broadcast", "commit your work", check=True).stdout
    assert f"{a1} (busy)" in out and f"{a2} (waiting_input)" in out, out


def test_answer_refuses_an_agent_that_is_not_asking(wzp_env: WzpEnv) -> None:
    (a1,) = start_agents(wzp_env, 1)
    result = wzp_env.wzp("answer", a1, "yes")
    assert result.returncode == 1
    assert "waiting" in result.stderr and a1 in result.stderr, result.stderr
    help_text = wzp_env.wzp("--help", check=True).stdout
    assert "answer" in help_text

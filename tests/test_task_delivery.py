"""Tasks that cannot stall: a typed prompt must be submitted (UserPromptSubmit), else Enter
again, then cleared and typed again, then the task fails with the reason. A real daemon,
real holders and PTYs, and the fake agent (tests/fake_agent.py)."""

from __future__ import annotations

from tests.conftest import WzpEnv
from tests.test_tasks import hub, start_agents, wait_tasks


def log_lines(env: WzpEnv, name: str) -> list[str]:
    path = env.root / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def test_a_lost_enter_is_pressed_again(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    task_id = hub("task.request", target=target, prompt="lose-enter-once hello")["task"]["id"]
    (task,) = wait_tasks(wzp_env, {task_id}, timeout=60)
    assert task["state"] == "done", task
    assert task["result"] == "echo: lose-enter-once hello"
    assert log_lines(wzp_env, "a1") == ["lose-enter-once hello"]


def test_a_prompt_lost_twice_is_cleared_and_typed_again(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    task_id = hub("task.request", target=target, prompt="lose-twice hi")["task"]["id"]
    (task,) = wait_tasks(wzp_env, {task_id}, timeout=60)
    assert task["state"] == "done", task
    assert log_lines(wzp_env, "a1") == ["lose-twice hi"]


def test_a_prompt_never_submitted_fails_and_the_next_task_runs(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    stuck = hub("task.request", target=target, prompt="never-submit this")["task"]["id"]
    after = hub("task.request", target=target, prompt="and then this")["task"]["id"]
    (failed,) = wait_tasks(wzp_env, {stuck}, timeout=60)
    assert failed["state"] == "failed"
    assert "never submitted" in failed["error"]
    (done,) = wait_tasks(wzp_env, {after}, timeout=60)
    assert done["state"] == "done" and done["result"] == "echo: and then this"

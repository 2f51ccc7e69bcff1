"""Agent states, answers, broadcast and task endings in-process (fake daemon context)."""

from __future__ import annotations

from pathlib import Path

from tests.feature_fakes import FakeDaemon, run, settle
from wzp_supervisor.agent_health import AgentHealth
from wzp_supervisor.agent_states import AgentStates
from wzp_supervisor.config import load_config
from wzp_supervisor.task_queue import TaskQueue
from wzp_supervisor.task_requests import TaskRequests
from wzp_supervisor.workspaces import WorkspaceRecord


class Typing:
    def __init__(self) -> None:
        self.typed: list[tuple[str, str]] = []

    async def __call__(self, target: str, prompt: str, still_wanted: object) -> None:
        self.typed.append((target, prompt))


def build(daemon: FakeDaemon) -> tuple[AgentStates, TaskQueue, Typing]:
    states = AgentStates(daemon.ctx)
    typing = Typing()
    tasks = TaskQueue(daemon.ctx, states, deliver=typing)
    daemon.features += [states, tasks, TaskRequests(tasks)]
    return states, tasks, typing


def test_broadcast_says_what_each_queued_agent_is_doing() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        for target in ("w/a", "w/b", "w/c"):
            daemon.add_agent(target)
        build(daemon)
        await daemon.hub.request("status.update", agent="w/a", event="SessionStart")
        await daemon.hub.request("status.update", agent="w/b", event="PermissionRequest")
        await daemon.hub.request("status.update", agent="w/c", event="UserPromptSubmit")
        reply = await daemon.hub.request("broadcast", text="hello")
        assert reply["delivered"] == ["w/a"]
        assert reply["states"] == {"w/b": "waiting_input", "w/c": "busy"}

    run(body)


def test_stop_failure_fails_the_task_and_error_agents_take_the_next() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        daemon.add_agent("w/a")
        states, tasks, typing = build(daemon)
        await daemon.hub.request("status.update", agent="w/a", event="SessionStart")
        first = (await daemon.hub.request("task.request", target="w/a", prompt="one"))["task"]
        second = (await daemon.hub.request("task.request", target="w/a", prompt="two"))["task"]
        await settle()
        payload = {"error": "rate_limit", "last_assistant_message": "API Error: 429 slow down"}
        await daemon.hub.request("status.update", agent="w/a", event="StopFailure", payload=payload)
        record = states.records["w/a"]
        assert (record.state, record.reason, record.source) == ("error", "rate_limit", "hook")
        assert record.message == "API Error: 429 slow down"
        shown = await daemon.hub.request("task.show", task=first["id"])
        assert shown["task"]["state"] == "failed"
        assert shown["task"]["error"] == "API error: API Error: 429 slow down"
        await settle()
        assert typing.typed == [("w/a", "one"), ("w/a", "two")]
        assert tasks.running["w/a"].id == second["id"]

    run(body)


def test_unknown_hooks_are_ignored_and_permission_mode_is_kept() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        daemon.add_agent("w/a")
        states, _tasks, _typing = build(daemon)
        payload = {"permission_mode": "plan"}
        await daemon.hub.request(
            "status.update", agent="w/a", event="SessionStart", payload=payload
        )
        for _ in range(3):
            reply = await daemon.hub.request(
                "status.update", agent="w/a", event="NoSuchEvent", payload={"x": 1}
            )
            assert reply == {"ignored": "unknown hook event"}
        assert states.records["w/a"].state == "idle"
        (info,) = daemon.snapshot()
        assert info["permission_mode"] == "plan"
        assert info["agent_source"] == "hook"
        await daemon.hub.request(
            "status.update",
            agent="w/a",
            event="Notification",
            payload={"notification_type": "agent_needs_input", "message": "Need you"},
        )
        record = states.records["w/a"]
        assert (record.state, record.reason) == ("waiting_input", "input")

    run(body)


def test_stalled_and_error_alerts_say_what_happened() -> None:
    from wzp_supervisor.desktop_notify import Alert

    assert Alert("w/a", "stalled", "no output, hook or progress for 300s").body == (
        "w/a is stalled: no output, hook or progress for 300s"
    )
    assert Alert("w/a", "error", "rate_limit", "API Error: 429").body == (
        "w/a hit an API error: API Error: 429"
    )


def test_health_settings_come_from_the_pane_then_the_template_then_the_defaults(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        """
processes:
  claude_code:
    health_check_interval: 20
workspaces:
  templates:
    t:
      layout: two_pane_horizontal
      stall_after: 50
      on_stall: restart
      panes:
        - name: left
          position: left
          health_check_interval: 2
          on_stall: notify
        - name: right
          position: right
"""
    )
    daemon = FakeDaemon(load_config(config_file))
    health = AgentHealth(daemon.ctx, AgentStates(daemon.ctx))
    daemon.workspaces.records["w"] = WorkspaceRecord("w", "t", "/", 0.0)
    assert health.settings("w/left") == (2.0, 50.0, "notify")
    assert health.settings("w/right") == (20.0, 50.0, "restart")
    assert health.settings("other/x") == (20.0, 200.0, "notify")  # 10 x the interval

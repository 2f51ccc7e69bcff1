"""Agent states, answers, broadcast and task endings in-process (fake daemon context)."""

from __future__ import annotations

from tests.feature_fakes import FakeDaemon, run, settle
from wzp_supervisor.agent_states import AgentStates
from wzp_supervisor.task_queue import TaskQueue
from wzp_supervisor.task_requests import TaskRequests


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

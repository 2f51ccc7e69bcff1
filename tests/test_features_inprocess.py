"""The daemon's features built in-process with a fake context: fast checks of the task queue
policy, the agent state machine and the observer (the real-process tests sit beside them)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.feature_fakes import FakeDaemon, ProtocolError, build_tasks, run, settle
from wzp_supervisor.observe import Observer
from wzp_supervisor.task_model import Task, next_task


def test_next_task_prefers_priority_then_age_and_respects_targets() -> None:
    queued = [
        Task(id="t1", seq=1, prompt="old low"),
        Task(id="t2", seq=2, prompt="high", priority=5),
        Task(id="t3", seq=3, prompt="newer high", priority=5),
        Task(id="t4", seq=4, prompt="for b only", target="w/b", priority=9),
        Task(id="t5", seq=5, prompt="other ws", workspace="v", priority=7),
    ]
    chosen = next_task(queued, "w/a", "w")
    assert chosen is not None and chosen.id == "t2"
    chosen_b = next_task(queued, "w/b", "w")
    assert chosen_b is not None and chosen_b.id == "t4"
    assert next_task([queued[4]], "w/a", "w") is None


def test_idle_agent_gets_the_highest_priority_task_first() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        daemon.add_agent("w/a")
        _states, tasks, delivery = build_tasks(daemon)
        low = await daemon.hub.request("task.submit", prompt="low")
        high = await daemon.hub.request("task.submit", prompt="high", priority=3)
        await settle()
        assert delivery.typed == []  # not idle yet: nothing is typed
        await daemon.hub.request("status.update", agent="w/a", event="SessionStart")
        await settle()
        assert delivery.typed == [("w/a", "high")]
        assert tasks.running["w/a"].id == high["task"]["id"]
        done = await daemon.hub.request(
            "status.update", agent="w/a", event="Stop", payload={"last_assistant_message": "ok"}
        )
        assert done["state"] == "idle"
        await settle()
        assert delivery.typed == [("w/a", "high"), ("w/a", "low")]
        shown = await daemon.hub.request("task.show", task=high["task"]["id"])
        assert shown["task"]["state"] == "done" and shown["task"]["result"] == "ok"
        assert tasks.running["w/a"].id == low["task"]["id"]
        assert daemon.names("Task") == [
            "TaskSubmitted",
            "TaskSubmitted",
            "TaskStarted",
            "TaskCompleted",
            "TaskStarted",
        ]

    run(body)


def test_task_for_a_non_agent_pane_is_refused() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        daemon.add_agent("w/shell", agent=None)
        build_tasks(daemon)
        with pytest.raises(ProtocolError, match="not a Claude agent"):
            await daemon.hub.request("task.request", target="w/shell", prompt="hi")

    run(body)


def test_agent_state_machine_from_hooks_and_supervision() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        daemon.add_agent("w/a")
        states, _tasks, _delivery = build_tasks(daemon)
        steps = [
            ("SessionStart", {}, "idle"),
            ("UserPromptSubmit", {}, "busy"),
            ("PermissionRequest", {"tool_name": "Bash"}, "waiting_input"),
            ("PostToolUse", {}, "busy"),
            ("Stop", {}, "idle"),
        ]
        for event, payload, expected in steps:
            reply = await daemon.hub.request(
                "status.update", agent="w/a", event=event, payload=payload
            )
            assert reply["state"] == expected, event
        assert states.state_of("w/a") == "idle"
        daemon.bus.publish("ProcessExited", "process", target="w/a", reason="exit 1")
        assert states.state_of("w/a") == "exited"
        # a hook from a process that is not live changes nothing
        daemon.table.processes["w/a"].set_state("exited")
        reply = await daemon.hub.request("status.update", agent="w/a", event="UserPromptSubmit")
        assert reply == {"ignored": "process is exited"}
        assert states.state_of("w/a") == "exited"
        changes = [e for e in daemon.events if e["event"] == "AgentStateChanged"]
        assert [c["state"] for c in changes] == [
            "idle",
            "busy",
            "waiting_input",
            "busy",
            "idle",
            "exited",
        ]

    run(body)


def test_observer_status_document_carries_task_prompt_and_waiting_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "r"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))

    async def body() -> None:
        daemon = FakeDaemon()
        daemon.add_agent("w/a")
        daemon.add_agent("w/b")
        _states, tasks, _delivery = build_tasks(daemon)
        observer = Observer(daemon.ctx, tasks)
        daemon.features.append(observer)
        await observer.start()
        for target in ("w/a", "w/b"):
            await daemon.hub.request("status.update", agent=target, event="SessionStart")
        await daemon.hub.request("task.request", target="w/a", prompt="fix   the\nbug")
        await settle()
        for target in ("w/b", "w/a"):  # b waits first
            await daemon.hub.request(
                "status.update",
                agent=target,
                event="Notification",
                payload={"notification_type": "permission_prompt", "message": "Bash?"},
            )
            await asyncio.sleep(0)
        doc = observer.status_document()
        assert [w["target"] for w in doc["waiting"]] == ["w/b", "w/a"]
        agent_a = next(a for a in doc["agents"] if a["target"] == "w/a")
        assert agent_a["task"]["prompt"] == "fix the bug"
        assert doc["totals"]["waiting_input"] == 2
        assert [t["target"] for t in doc["transitions"]] == ["w/b", "w/a"]
        written = json.loads((runtime / "wezterm-parallel" / "status.json").read_bytes())
        assert written["schema"] == 1
        await observer.stop()
        assert not (runtime / "wezterm-parallel" / "status.json").exists()

    run(body)


def test_deleting_a_workspace_fails_its_agent_tasks_but_not_its_pool_tasks() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        _states, tasks, _delivery = build_tasks(daemon)
        for_agents = tasks.add(Task(id="", seq=0, prompt="for w's agents", workspace="w"))
        for_pool = tasks.add(
            Task(id="", seq=0, prompt="on behalf of w", workspace="w", pool="review")
        )
        daemon.bus.publish("WorkspaceDeleted", "workspace", workspace="w")
        await settle()
        assert for_agents.state == "failed"
        assert for_agents.error == "workspace w was deleted"
        assert for_pool.state == "queued" and for_pool.id in tasks.queued

    run(body)

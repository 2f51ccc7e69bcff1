"""Tasks, queue and broadcast end to end (issue #4): a real daemon, real holders and PTYs, and
a fake agent program (tests/fake_agent.py) that fires real `wzp hook` events like Claude."""

from __future__ import annotations

import collections
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import psutil

from tests.conftest import WzpEnv
from wzp_supervisor.cli.hub_client import HubClient

PY = sys.executable
FAKE = Path(__file__).resolve().parent / "fake_agent.py"
POSITIONS = ("top_left", "top_right", "bottom_left", "bottom_right")


def fake_config(env: WzpEnv, count: int) -> str:
    panes = []
    for i in range(count):
        name = f"a{i + 1}"
        panes.append(
            f"""
        - name: {name}
          position: {POSITIONS[i]}
          command: [{json.dumps(PY)}, {json.dumps(str(FAKE))}]
          agent: claude
          environment:
            FAKE_AGENT_LOG: {json.dumps(str(env.root / f"{name}.log"))}"""
        )
    return f"""
processes:
  claude_code:
    max_instances: 8
    min_uptime: 0.5
    backoff_max: 1
workspaces:
  default_template: fake
  templates:
    fake:
      layout: four_pane_grid
      panes:{"".join(panes)}
"""


def start_agents(env: WzpEnv, count: int, workspace: str = "demo") -> list[str]:
    """A daemon with one workspace of ``count`` fake agents, all idle."""
    env.write_config(fake_config(env, count))
    env.wzp("up", check=True)
    env.wzp("workspace", "create", workspace, "--dir", str(env.work), check=True)
    targets = [f"{workspace}/a{i + 1}" for i in range(count)]
    for target in targets:
        wait_agent(env, target, "idle")
    return targets


def wait_agent(env: WzpEnv, target: str, state: str, timeout: float = 30) -> dict[str, Any]:
    proc: dict[str, Any] = env.wait_for(
        lambda: (p := env.process(target)).get("agent_state") == state and p,
        timeout=timeout,
        what=f"{target} {state}",
    )
    return proc


def hub(kind: str, **fields: Any) -> dict[str, Any]:
    with HubClient(timeout=30) as client:
        return client.request(kind, **fields)


def all_tasks() -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = hub("task.list")["tasks"]
    return tasks


def wait_tasks(env: WzpEnv, ids: set[str], timeout: float = 120) -> list[dict[str, Any]]:
    """Wait until every task in ``ids`` has ended; returns them."""

    def ended() -> list[dict[str, Any]] | None:
        tasks = [t for t in all_tasks() if t["id"] in ids]
        if len(tasks) == len(ids) and all(t["state"] in ("done", "failed") for t in tasks):
            return tasks
        return None

    result: list[dict[str, Any]] = env.wait_for(ended, timeout=timeout, what="tasks to end")
    return result


class EventRecorder:
    """Subscribes to the hub's event stream in a thread and keeps every event."""

    def __init__(self, topics: list[str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.client = HubClient(timeout=None)
        self.client.request("subscribe", topics=topics)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for event in self.client.events():
            self.events.append(event)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == name]

    def close(self) -> None:
        self.client.close()


def agent_child(env: WzpEnv, target: str) -> psutil.Process:
    """The fake agent process (the holder's child running fake_agent.py)."""
    holder = env.process(target)["pid"]

    def find() -> psutil.Process | None:
        for child in psutil.Process(holder).children(recursive=True):
            if any(str(FAKE) == arg for arg in child.cmdline()):
                return child
        return None

    found: psutil.Process = env.wait_for(find, what=f"the agent process of {target}")
    return found


def test_200_tasks_across_4_agents_complete_exactly_once_fifo(wzp_env: WzpEnv) -> None:
    targets = start_agents(wzp_env, 4)
    recorder = EventRecorder(["task"])
    try:
        ids: list[str] = []
        prompts: dict[str, str] = {}
        with HubClient(timeout=30) as client:
            for i in range(200):
                prompt = f"job-{i:03d}"
                if i % 2:
                    answer = client.request("task.submit", prompt=prompt, workspace="demo")
                else:
                    target = targets[(i // 2) % 4]
                    answer = client.request("task.request", target=target, prompt=prompt)
                ids.append(answer["task"]["id"])
                prompts[answer["task"]["id"]] = prompt
        tasks = {t["id"]: t for t in wait_tasks(wzp_env, set(ids))}

        # every task done, with the agent's answer, each completed exactly once
        assert all(t["state"] == "done" for t in tasks.values()), [
            t for t in tasks.values() if t["state"] != "done"
        ]
        for task_id, task in tasks.items():
            assert task["result"] == f"echo: {prompts[task_id]}"
            assert task["attempts"] == 1
            if task["target"]:
                assert task["agent"] == task["target"]
        wzp_env.wait_for(lambda: len(recorder.named("TaskCompleted")) >= 200, what="events")
        completed = collections.Counter(e["task"] for e in recorder.named("TaskCompleted"))
        assert set(completed) == set(ids)
        assert set(completed.values()) == {1}

        # each prompt reached exactly one agent exactly once; FIFO per agent
        seen: collections.Counter[str] = collections.Counter()
        for target in targets:
            log = (wzp_env.root / f"{target.split('/')[1]}.log").read_text().split()
            seen.update(log)
            mine = sorted(
                (t for t in tasks.values() if t["agent"] == target), key=lambda t: t["seq"]
            )
            assert log == [t["prompt"] for t in mine], f"{target} ran its tasks out of order"
            started = [t["started"] for t in mine]
            assert started == sorted(started)
        assert seen == collections.Counter(prompts.values())
        assert all(p.get("agent_state") == "idle" for p in wzp_env.status()["processes"])
    finally:
        recorder.close()


def test_agent_killed_mid_task_gets_the_task_again(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    log = wzp_env.root / "a1.log"
    answer = hub("task.request", target=target, prompt="hang-once then answer")
    task_id = answer["task"]["id"]
    wzp_env.wait_for(lambda: Path(f"{log}.hung").exists(), what="the agent to take the task")
    wait_agent(wzp_env, target, "busy")
    assert wzp_env.process(target)["task"] == task_id
    agent_child(wzp_env, target).send_signal(signal.SIGKILL)

    (task,) = wait_tasks(wzp_env, {task_id}, timeout=60)
    assert task["state"] == "done"
    assert task["result"] == "echo: hang-once then answer"
    assert task["requeues"] == 1
    assert task["attempts"] == 2
    assert log.read_text().split("\n").count("hang-once then answer") == 2
    kinds = [e["event"] for e in hub("events.recent", limit=200)["events"]]
    assert "TaskRequeued" in kinds


def test_agent_crashing_twice_fails_the_task_with_the_reason(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    answer = hub("task.request", target=target, prompt="crash please")
    (task,) = wait_tasks(wzp_env, {answer["task"]["id"]}, timeout=60)
    assert task["state"] == "failed"
    assert task["requeues"] == 1
    assert "exited mid-task" in task["error"]
    assert "twice" in task["error"]
    # the agent itself comes back and takes new work
    wait_agent(wzp_env, target, "idle")
    follow = hub("task.request", target=target, prompt="still there?", wait=True, timeout=25)
    assert follow["done"] and follow["response"] == "echo: still there?"


def test_cli_send_wait_list_show_cancel_and_events(wzp_env: WzpEnv) -> None:
    (a1, a2) = start_agents(wzp_env, 2)
    result = wzp_env.wzp("task", "send", a1, "hello agent", "--wait", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "echo: hello agent"
    wait_agent(wzp_env, a1, "idle")

    # keep a2 busy, queue one behind it, cancel that one
    wzp_env.wzp("task", "send", a2, "sleep=3 slow one", check=True)
    wait_agent(wzp_env, a2, "busy")
    queued = json.loads(wzp_env.wzp("task", "send", a2, "never runs", "--json", check=True).stdout)
    queued_id = queued["task"]["id"]
    assert queued["task"]["state"] == "queued"
    result = wzp_env.wzp("task", "cancel", queued_id, check=True)
    assert "cancelled (was queued)" in result.stdout
    assert wzp_env.wzp("task", "cancel", queued_id).returncode == 1

    listing = json.loads(wzp_env.wzp("task", "list", "--json", check=True).stdout)["tasks"]
    states = {t["prompt"]: t["state"] for t in listing}
    assert states["hello agent"] == "done"
    assert states["never runs"] == "cancelled"
    text = wzp_env.wzp("task", "list", check=True).stdout
    assert "hello agent" in text and "ID" in text

    shown = json.loads(wzp_env.wzp("task", "show", "t1", "--json", check=True).stdout)["task"]
    assert shown["result"] == "echo: hello agent"
    assert "echo: hello agent" in wzp_env.wzp("task", "show", "t1", check=True).stdout
    assert wzp_env.wzp("task", "show", "t999").returncode == 1

    # a short --timeout gives up (exit 1) while the task stays queued
    wzp_env.wzp("task", "send", a2, "sleep=3 busy again", check=True)
    late = wzp_env.wzp("task", "send", a2, "sleep=1 later", "--wait", "--timeout", "0.2")
    assert late.returncode == 1 and "still" in late.stderr

    # submit --wait to the pool
    pooled = wzp_env.wzp("task", "submit", "pooled", "--wait", "--timeout", "30")
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.strip() == "echo: pooled"

    events = wzp_env.wzp("events", "--json", "--limit", "500", check=True).stdout.splitlines()
    names = {json.loads(line)["event"] for line in events}
    for name in (
        "WorkspaceCreated",
        "ProcessStarted",
        "AgentStateChanged",
        "TaskSubmitted",
        "TaskStarted",
        "TaskCompleted",
        "TaskCancelled",
    ):
        assert name in names, name
    human = wzp_env.wzp("events", "--topic", "task", check=True).stdout
    assert "TaskCompleted" in human and "WorkspaceCreated" not in human
    assert wzp_env.wzp("task", "send", "demo/nope", "x").returncode == 1


def test_events_follow_streams_new_events(wzp_env: WzpEnv) -> None:
    import subprocess

    (a1,) = start_agents(wzp_env, 1)
    follow = subprocess.Popen(
        [PY, "-m", "wzp_supervisor", "events", "--follow", "--json", "--topic", "task"],
        env={**wzp_env.env, "WZP_EVENTS_ANNOUNCE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stderr is not None
        # the announcement comes once the subscription is in place: no event can be missed
        assert "following events" in follow.stderr.readline()
        wzp_env.wait_for(
            lambda: wzp_env.wzp("task", "send", a1, "streamed", "--wait", check=True),
            what="a task",
        )
        lines = []
        assert follow.stdout is not None
        while not any('"TaskCompleted"' in line for line in lines):
            lines.append(follow.stdout.readline())
        assert any('"TaskSubmitted"' in line for line in lines)
    finally:
        follow.kill()
        follow.wait()


def test_broadcast_reaches_idle_agents_now_and_busy_ones_later(wzp_env: WzpEnv) -> None:
    (a1, a2) = start_agents(wzp_env, 2)
    hub("task.request", target=a2, prompt="sleep=2 busy")
    wait_agent(wzp_env, a2, "busy")
    result = wzp_env.wzp("broadcast", "--json", "hello everyone", check=True)
    answer = json.loads(result.stdout)
    assert answer["delivered"] == [a1]
    assert answer["queued"] == [a2]
    wait_tasks(wzp_env, set(answer["tasks"]), timeout=30)
    for name in ("a1", "a2"):
        assert "hello everyone" in (wzp_env.root / f"{name}.log").read_text().splitlines()
    text = wzp_env.wzp("broadcast", "--workspace", "demo", "again").stdout
    assert "sent to" in text
    assert wzp_env.wzp("broadcast", "--workspace", "nope", "x").returncode == 1


def test_tasks_survive_a_daemon_restart(wzp_env: WzpEnv) -> None:
    (a1,) = start_agents(wzp_env, 1)
    done = hub("task.request", target=a1, prompt="before restart", wait=True, timeout=25)
    assert done["done"]
    wzp_env.wzp("stop", a1, check=True)
    queued = [hub("task.request", target=a1, prompt=f"queued {i}")["task"]["id"] for i in (1, 2)]
    wzp_env.wzp("down", check=True)
    wzp_env.wzp("up", check=True)
    tasks = {t["id"]: t for t in all_tasks()}
    assert tasks[done["task"]["id"]]["state"] == "done"
    assert [tasks[i]["state"] for i in queued] == ["queued", "queued"]
    wzp_env.wzp("start", a1, check=True)
    finished = wait_tasks(wzp_env, set(queued), timeout=60)
    assert {t["result"] for t in finished} == {"echo: queued 1", "echo: queued 2"}
    log = (wzp_env.root / "a1.log").read_text().splitlines()
    assert log == ["before restart", "queued 1", "queued 2"]
    new = hub("task.submit", prompt="after")["task"]["id"]
    assert int(new[1:]) > int(queued[-1][1:])  # ids are never reused


def test_priority_order_and_waits_longer_than_the_hub_timeout(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(fake_config(wzp_env, 1) + "communication:\n  message_timeout: 2000\n")
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    wait_agent(wzp_env, "demo/a1", "idle")
    hub("task.request", target="demo/a1", prompt="sleep=1.5 first")
    wait_agent(wzp_env, "demo/a1", "busy")
    for prompt, priority in (("low-a", 0), ("low-b", 0), ("high", 5), ("low-c", 0)):
        hub("task.submit", prompt=prompt, priority=priority)
    # each hub request is cut at 2 s; --wait keeps asking until the task is done
    slow = wzp_env.wzp("task", "send", "demo/a1", "sleep=2.5 slow", "--wait", "--timeout", "60")
    assert slow.returncode == 0, slow.stderr
    assert slow.stdout.strip() == "echo: sleep=2.5 slow"
    log = (wzp_env.root / "a1.log").read_text().splitlines()
    assert log == ["sleep=1.5 first", "high", "low-a", "low-b", "low-c", "sleep=2.5 slow"]


def test_deleting_a_workspace_fails_the_tasks_only_it_could_run(wzp_env: WzpEnv) -> None:
    (a1,) = start_agents(wzp_env, 1)
    wzp_env.wzp("stop", a1, check=True)
    targeted = hub("task.request", target=a1, prompt="for a1")["task"]["id"]
    scoped = hub("task.submit", prompt="for demo", workspace="demo")["task"]["id"]
    pooled = hub("task.submit", prompt="for anyone")["task"]["id"]
    wzp_env.wzp("workspace", "delete", "demo", check=True)
    tasks = {t["id"]: t for t in all_tasks()}
    assert tasks[targeted]["state"] == "failed"
    assert "deleted" in tasks[targeted]["error"]
    assert tasks[scoped]["state"] == "failed"
    assert tasks[pooled]["state"] == "queued"

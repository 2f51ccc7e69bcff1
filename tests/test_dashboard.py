"""The dashboard renders real daemon data and its keys act on the selected agent (#5)."""

from __future__ import annotations

import io
import threading
from typing import Any

from rich.console import Console

from tests.conftest import WzpEnv
from tests.observe_support import PY, SLEEP, create_workspace, pane_yaml, pool_config
from tests.test_tasks import hub, wait_agent
from wzp_supervisor.cli.dashboard import Dashboard

BANNER = [PY, "-c", "print('hello from the peek pane', flush=True); import time; time.sleep(10000)"]


def screen(dashboard: Dashboard, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(dashboard.render())
    return console.export_text()


def test_dashboard_renders_daemon_data_and_restart_key_restarts(wzp_env: WzpEnv) -> None:
    panes = pane_yaml("a1", "top_left", SLEEP) + pane_yaml("a2", "top_right", BANNER)
    wzp_env.write_config(pool_config(panes))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    wzp_env.wzp("stop", "demo/a1", check=True)
    wzp_env.wait_for(lambda: wzp_env.process("demo/a2")["state"] == "running", what="a2 up")

    board = Dashboard()
    board.refresh()
    assert board.connected
    text = screen(board)
    assert "demo" in text and "a1" in text and "a2" in text
    assert "stopped" in text and "running" in text
    assert "stopped by request" in text  # the reason column
    assert "1 workspace · 0 agents · 2 other panes" in text  # sleepers are not agents

    assert board.selected_target() == "demo/a1"
    board.handle_key("j")
    assert board.selected_target() == "demo/a2"
    old_pid = wzp_env.process("demo/a2")["pid"]
    assert board.handle_key("r")
    for thread in board.actions:
        thread.join(timeout=60)
    assert board.message == "restart demo/a2: done"
    new = wzp_env.process("demo/a2")
    assert new["state"] == "running" and new["pid"] not in (None, old_pid)

    board.handle_key("k")
    board.handle_key("t")  # start the stopped one
    for thread in board.actions:
        thread.join(timeout=60)
    assert wzp_env.process("demo/a1")["state"] in ("starting", "running")

    board.handle_key("j")

    def peeked() -> bool:
        board.refresh()
        board.peek_target = None
        board.handle_key("p")
        return "hello from the peek pane" in (board.peek_text or "")

    wzp_env.wait_for(peeked, what="the pane's screen in the peek panel")
    assert "peek demo/a2" in screen(board)
    board.handle_key("p")
    assert board.peek_text is None
    assert board.handle_key("q") is False


def fake_status() -> dict[str, Any]:
    def proc(pane: str, state: str, since: float, **extra: Any) -> dict[str, Any]:
        return {
            "target": f"w/{pane}",
            "workspace": "w",
            "pane": pane,
            "state": "running",
            "since": 1.0,
            "pid": 10,
            "restarts": 0,
            "kind": "claude",
            "agent_state": state,
            "agent_since": since,
            "cpu": 2.5,
            "rss": 3 << 20,
            **extra,
        }

    return {
        "daemon": {"pid": 1},
        "workspaces": [{"name": "w"}],
        "processes": [
            proc("a", "busy", 5.0, task="t-42"),
            proc("b", "waiting_input", 20.0, agent_reason="permission"),
            proc("c", "waiting_input", 10.0, agent_message="Claude needs your permission"),
        ],
    }


def test_w_jumps_to_the_oldest_waiting_agent() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    done = threading.Event()

    def request(kind: str, **fields: Any) -> dict[str, Any]:
        calls.append((kind, fields))
        if kind != "status":
            done.set()
        return fake_status() if kind == "status" else {"processes": []}

    board = Dashboard(request=request)
    board.refresh()
    board.handle_key("w")
    assert board.selected_target() == "w/c"
    text = screen(board)
    assert "⚡2 waiting" in text and "Claude needs your permission" in text and "t-42" in text
    assert "2.5%" in text and "3.0M" in text
    board.handle_key("s")
    assert done.wait(10)
    assert ("process.stop", {"target": "w/c"}) in calls


def test_long_lists_scroll_with_the_selection() -> None:
    procs = [
        {
            "target": f"w{i // 4:02d}/p{i:02d}",
            "workspace": f"w{i // 4:02d}",
            "pane": f"p{i:02d}",
            "state": "running",
            "since": 1.0,
            "pid": 100 + i,
            "restarts": 0,
        }
        for i in range(100)
    ]
    board = Dashboard(request=lambda kind, **_: {"processes": procs, "workspaces": []})
    board.refresh()
    for _ in range(70):
        board.handle_key("j")
    console = Console(file=io.StringIO(), width=120, height=30, record=True, color_system=None)
    console.print(board.render(height=30))
    text = console.export_text()
    assert "p70" in text and "p00" not in text and "p99" not in text
    assert "↑" in text and "↓" in text and "more lines" in text
    assert len(text.splitlines()) <= 30


DIALOG_PANE = r"""
import json, os, subprocess, sys, tty
subprocess.run([sys.executable, "-m", "wzp_supervisor", "hook", "SessionStart"],
               input=json.dumps({"hook_event_name": "SessionStart", "session_id": "s1",
                                 "source": "startup"}).encode(), check=False)
print("\n".join([
    " Bash command", "   touch made-by-claude", "", " Do you want to proceed?",
    " \u276f 1. Yes", "   2. Yes, and don't ask again for touch commands",
    "   3. No, and tell Claude what to do differently (esc)", "", " Esc to cancel",
]), flush=True)
tty.setcbreak(0)
while True:
    key = os.read(0, 1).decode(errors="replace")
    if key.isdigit():
        with open(os.environ["DIALOG_LOG"], "a") as log:
            log.write(key + "\n")
        print("\x1b[2J\x1b[Hchose " + key, flush=True)
"""


def test_y_n_always_answer_the_selected_agent_through_the_hub(wzp_env: WzpEnv) -> None:
    log = wzp_env.root / "dialog.log"
    panes = pane_yaml(
        "d1",
        "top_left",
        [PY, "-c", DIALOG_PANE],
        agent="claude",
        environment={"DIALOG_LOG": str(log)},
    )
    wzp_env.write_config(pool_config(panes))
    wzp_env.wzp("up", check=True)
    create_workspace(wzp_env, "demo")
    target = "demo/d1"
    wait_agent(wzp_env, target, "idle")

    board = Dashboard()
    board.refresh()
    assert "y yes" in screen(board) and "A always" in screen(board)  # the footer help

    def press(key: str) -> str:
        assert board.handle_key(key)
        for thread in board.actions:
            thread.join(timeout=60)
        return board.message

    assert board.selected_target() == target
    for key, word in (("y", "yes"), ("n", "no"), ("A", "always")):
        refused = press(key)  # not waiting: the daemon's refusal is shown
        assert refused.startswith(f"answer {word} {target}: "), refused
        assert "not waiting for input" in refused, refused
        assert refused in screen(board)
    assert not log.exists()

    hub(
        "status.update",
        agent=target,
        event="Notification",
        payload={"notification_type": "permission_prompt", "message": "Bash?"},
    )
    wait_agent(wzp_env, target, "waiting_input")
    assert press("y") == f"answer yes {target}: chose 1. Yes"
    assert log.read_text() == "1\n"

"""The specification's message names ({"TaskRequest": {…}} and friends) on the hub."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WzpEnv
from wzp_supervisor import paths, protocol, seed_messages
from wzp_supervisor.protocol import ProtocolError

PY = sys.executable
FAKE = Path(__file__).resolve().parent / "fake_agent.py"


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


# --------------------------------------------------------------------------- pure translation


def test_native_and_foreign_lines_are_not_seed_messages() -> None:
    assert seed_messages.parse(line({"v": 1, "type": "ping", "id": 1})) is None
    assert seed_messages.parse(line({"type": "broadcast", "text": "TaskRequest"})) is None
    assert seed_messages.parse(b'{"TaskRequest": ') is None  # bad JSON: protocol's to answer
    assert seed_messages.parse(line({"TaskRequest": {}, "type": "x"})) is None
    assert seed_messages.parse(line({"Other": {}})) is None


@pytest.mark.parametrize(
    ("seed", "native"),
    [
        (
            {"TaskRequest": {"id": "1", "workspace": "w", "command": "run the tests"}},
            {"type": "task.submit", "id": "1", "workspace": "w", "prompt": "run the tests"},
        ),
        (
            {"TaskRequest": {"id": 7, "workspace": "w/a1", "command": "hi"}},
            {"type": "task.request", "id": 7, "target": "w/a1", "prompt": "hi"},
        ),
        (
            {"StatusUpdate": {"process_id": "w/a1", "status": "Stop"}},
            {"type": "status.update", "agent": "w/a1", "event": "Stop", "payload": {}},
        ),
        (
            {"BroadcastMessage": {"content": "pull main", "sender": "lead"}},
            {"type": "broadcast", "text": "pull main"},
        ),
        (
            {"BroadcastMessage": {"content": "pull main"}},
            {"type": "broadcast", "text": "pull main"},
        ),
    ],
)
def test_seed_message_to_native_request(seed: dict[str, Any], native: dict[str, Any]) -> None:
    message = seed_messages.parse(line(seed))
    assert message is not None
    request = message.request()
    assert request.pop("v") == protocol.VERSION
    if request["type"].startswith("task."):
        assert request.pop("wait") is True
    request.setdefault("id", None)
    native.setdefault("id", None)
    assert request == native


@pytest.mark.parametrize(
    ("seed", "error"),
    [
        ({"TaskRequest": {"id": "1", "workspace": "w"}}, "missing field 'command' in TaskRequest"),
        (
            {"TaskRequest": {"id": True, "workspace": "w", "command": "c"}},
            "field 'id' of TaskRequest must be a string or integer",
        ),
        (
            {"StatusUpdate": {"process_id": 3, "status": "x"}},
            "field 'process_id' of StatusUpdate must be a string",
        ),
        (
            {"BroadcastMessage": {"content": "x", "to": "all"}},
            "unknown field 'to' in BroadcastMessage (content, sender)",
        ),
        ({"BroadcastMessage": "hello"}, "BroadcastMessage must hold a JSON object"),
        ({"TaskResponse": {"id": "1", "result": "x"}}, "TaskResponse is the answer"),
    ],
)
def test_malformed_seed_messages(seed: dict[str, Any], error: str) -> None:
    message = seed_messages.parse(line(seed))
    assert message is not None
    with pytest.raises(ProtocolError) as info:
        message.request()
    assert info.value.code == protocol.BAD_REQUEST
    assert error in info.value.message


def test_answers_in_kind() -> None:
    task = seed_messages.SeedMessage("TaskRequest", {"id": "1", "workspace": "w", "command": "c"})
    done = protocol.reply_ok("1", task={"id": "t3", "state": "done"}, done=True, response="echo: c")
    assert task.answer(done) == {
        "TaskResponse": {
            "id": "1",
            "result": "echo: c",
            "task": "t3",
            "state": "done",
            "done": True,
        }
    }
    failed = protocol.reply_error("1", protocol.NOT_FOUND, "no workspace named 'w'")
    assert task.answer(failed) == {
        "TaskResponse": {
            "id": "1",
            "result": None,
            "error": {"code": "not_found", "message": "no workspace named 'w'"},
        }
    }
    status = seed_messages.SeedMessage("StatusUpdate", {"process_id": "w/a", "status": "Stop"})
    assert status.answer(protocol.reply_ok(None, state="idle")) == {
        "StatusUpdate": {"process_id": "w/a", "status": "idle"}
    }
    cast = seed_messages.SeedMessage("BroadcastMessage", {"content": "x", "sender": "me"})
    ok = protocol.reply_ok(None, delivered=["w/a"], queued=[], tasks=["t4"])
    assert cast.answer(ok) == {
        "BroadcastMessage": {
            "content": "x",
            "sender": "me",
            "delivered": ["w/a"],
            "queued": [],
            "tasks": ["t4"],
        }
    }


# --------------------------------------------------------------------------- a real daemon


def fake_agent_config(env: WzpEnv) -> str:
    return f"""
workspaces:
  default_template: fake
  templates:
    fake:
      layout: single
      panes:
        - name: a1
          command: [{json.dumps(PY)}, {json.dumps(str(FAKE))}]
          agent: claude
          environment:
            FAKE_AGENT_LOG: {json.dumps(str(env.root / "a1.log"))}
"""


def exchange(*messages: object) -> list[dict[str, Any]]:
    """Send each message as one line on the hub socket; the answer to each, in order."""
    answers = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(paths.hub_socket()))
        reader = sock.makefile("rb")
        for message in messages:
            sock.sendall(line(message))
            answers.append(json.loads(reader.readline()))
    return answers


def test_seed_messages_over_the_hub(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(fake_agent_config(wzp_env))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    wzp_env.wait_for(
        lambda: wzp_env.process("demo/a1").get("agent_state") == "idle",
        timeout=60,
        what="demo/a1 idle",
    )
    answers = exchange(
        {"TaskRequest": {"id": "1", "workspace": "demo", "command": "hello seed"}},
        {"TaskRequest": {"id": 2, "workspace": "demo/a1", "command": "again"}},
        {"TaskRequest": {"id": "3", "workspace": "nowhere", "command": "x"}},
        {"StatusUpdate": {"process_id": "demo/a1", "status": "UserPromptSubmit"}},
        {"StatusUpdate": {"process_id": "demo/zz", "status": "Stop"}},
        {"BroadcastMessage": {"content": "all hands", "sender": "lead"}},
        {"TaskResponse": {"id": "9", "result": "x"}},
        {"v": 1, "id": "n", "type": "ping"},  # native requests still work on the same line
    )
    first, second, unknown, status, missing, cast, response, ping = answers
    assert first["TaskResponse"]["id"] == "1"
    assert first["TaskResponse"]["result"] == "echo: hello seed", first
    assert first["TaskResponse"]["done"] is True
    assert second["TaskResponse"]["id"] == 2
    assert second["TaskResponse"]["result"] == "echo: again", second
    assert unknown == {
        "TaskResponse": {
            "id": "3",
            "result": None,
            "error": {"code": "not_found", "message": "no workspace named 'nowhere'"},
        }
    }
    assert status == {"StatusUpdate": {"process_id": "demo/a1", "status": "busy"}}
    assert missing["StatusUpdate"]["error"]["code"] == "not_found"
    assert cast["BroadcastMessage"]["content"] == "all hands"
    assert cast["BroadcastMessage"]["sender"] == "lead"
    assert cast["BroadcastMessage"]["delivered"] + cast["BroadcastMessage"]["queued"] == ["demo/a1"]
    assert response["TaskResponse"]["error"]["code"] == "bad_request"
    assert ping["ok"] is True and ping["id"] == "n"

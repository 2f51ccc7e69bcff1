"""Every hub field is checked by type per message type, before any handler runs."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import WzpEnv
from tests.support import SLEEP, config_with, pane, running_pid, start
from wzp_supervisor.hub_schema import SCHEMAS, check_fields
from wzp_supervisor.protocol import ProtocolError


def raw_request(env: WzpEnv, line: str) -> dict[str, object]:
    """Send one raw NDJSON line to the hub and read the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(env.runtime_dir / "hub.sock"))
        sock.sendall(line.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, object] = json.loads(data)
    return reply


def test_a_string_false_does_not_force_a_delete(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)), workspace="w1")
    running_pid(wzp_env, "w1/a1")
    reply = raw_request(
        wzp_env, '{"v":1,"id":1,"type":"workspace.delete","name":"w1","force":"false"}'
    )
    assert reply["ok"] is False
    error = reply["error"]
    assert isinstance(error, dict) and error["code"] == "bad_request"
    assert "force" in error["message"] and "true or false" in error["message"]
    assert [w["name"] for w in wzp_env.status()["workspaces"]] == ["w1"]
    assert wzp_env.process("w1/a1")["state"] == "running"


@pytest.mark.parametrize(
    "line,field",
    [
        ('{"type":"task.list","limit":"5"}', "limit"),
        ('{"type":"task.wait","task":"t1","timeout":NaN}', "timeout"),
        ('{"type":"task.submit","prompt":"x","priority":true}', "priority"),
        ('{"type":"layout","name":"w","wzp":["wzp",3]}', "wzp"),
        ('{"type":"process.stop","target":"all","forcefully":true}', "forcefully"),
        ('{"type":"status.update","agent":"a/b","event":"Stop","payload":[1]}', "payload"),
    ],
)
def test_wrong_types_and_unknown_fields_are_refused_by_name(
    daemon: WzpEnv, line: str, field: str
) -> None:
    reply = raw_request(daemon, line)
    assert reply["ok"] is False, reply
    error = reply["error"]
    assert isinstance(error, dict) and error["code"] == "bad_request"
    assert repr(field) in error["message"]
    assert daemon.wzp("ping").returncode == 0


def test_every_schema_names_only_known_kinds() -> None:
    for kind, fields in SCHEMAS.items():
        for name, (field_kind, required) in fields.items():
            assert field_kind in ("str", "int", "number", "bool", "object", "str_list"), kind
            assert isinstance(required, bool), (kind, name)
    check_fields("task.request", {"type": "task.request", "target": "w/a", "prompt": "hi"})
    with pytest.raises(ProtocolError, match="missing field 'prompt'"):
        check_fields("task.request", {"type": "task.request", "target": "w/a"})


def test_all_is_not_a_workspace_name(daemon: WzpEnv) -> None:
    result = daemon.wzp("workspace", "create", "all", "--dir", str(daemon.work))
    assert result.returncode == 1
    assert "'all' is reserved" in result.stderr
    assert daemon.status()["workspaces"] == []


def test_a_task_for_a_stopped_agent_fails_at_once(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP, agent="claude")))
    running_pid(wzp_env, "demo/a1")
    wzp_env.wzp("stop", "demo/a1", check=True)
    result = wzp_env.wzp("task", "send", "demo/a1", "hello", "--wait", timeout=30)
    assert result.returncode == 1
    assert "demo/a1 is stopped" in result.stderr and "wzp start demo/a1" in result.stderr


def test_a_request_refused_while_decoding_is_answered_with_its_id(daemon: WzpEnv) -> None:
    reply = raw_request(daemon, '{"v":7,"id":"r-42","type":"ping"}')
    assert reply["ok"] is False and reply["id"] == "r-42"
    reply = raw_request(daemon, '{"id":"r-43"}')
    assert reply["ok"] is False and reply["id"] == "r-43"

"""The loopback Messages API stub: wire format, scripting, recording; and the real CLI's
print mode against it."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.claude_env import claude_binary, claude_environment, seed_claude_home, short_tmpdir
from tests.model_stub import ModelStub

MAIN_BODY: dict[str, Any] = {
    "model": "claude-test",
    "max_tokens": 100,
    "stream": True,
    "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi stub"}]}],
}


def post(stub: ModelStub, path: str, body: Any) -> tuple[int, str, bytes]:
    """POST JSON; return (status, content type, body)."""
    request = urllib.request.Request(
        stub.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-api-key": "k"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs of an SSE stream."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.fixture
def stub() -> Iterator[ModelStub]:
    with ModelStub() as server:
        yield server


def test_streaming_text_reply_has_the_full_event_sequence(stub: ModelStub) -> None:
    stub.reply_text("scripted answer")

    status, content_type, raw = post(stub, "/v1/messages?beta=true", MAIN_BODY)

    assert status == 200
    assert content_type == "text/event-stream"
    events = parse_sse(raw)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    assert events[0][1]["message"]["model"] == "claude-test"
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "scripted answer"}
    assert events[4][1]["delta"]["stop_reason"] == "end_turn"
    assert "output_tokens" in events[4][1]["usage"]
    assert stub.pending() == 0


def test_tool_use_reply_streams_input_json(stub: ModelStub) -> None:
    tool_id = stub.reply_tool_use("Bash", {"command": "touch x"})

    _, _, raw = post(stub, "/v1/messages", MAIN_BODY)

    events = parse_sse(raw)
    start = events[1][1]["content_block"]
    assert start == {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {}}
    delta = events[2][1]["delta"]
    assert delta["type"] == "input_json_delta"
    assert json.loads(delta["partial_json"]) == {"command": "touch x"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_non_streaming_reply_is_one_message(stub: ModelStub) -> None:
    stub.reply_text("plain")

    status, content_type, raw = post(stub, "/v1/messages", {**MAIN_BODY, "stream": False})

    assert status == 200
    assert content_type == "application/json"
    message = json.loads(raw)
    assert message["type"] == "message"
    assert message["content"] == [{"type": "text", "text": "plain"}]
    assert message["stop_reason"] == "end_turn"


def test_default_reply_echoes_the_last_user_text(stub: ModelStub) -> None:
    body = {
        **MAIN_BODY,
        "stream": False,
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ignore me</system-reminder>"},
                    {"type": "text", "text": "second"},
                ],
            },
        ],
    }
    _, _, raw = post(stub, "/v1/messages", body)
    assert json.loads(raw)["content"][0]["text"] == "stub reply: second"


def test_side_requests_do_not_consume_the_queue(stub: ModelStub) -> None:
    stub.reply_text("for the conversation")
    side = {**MAIN_BODY, "stream": False}
    del side["tools"]

    _, _, raw = post(stub, "/v1/messages?beta=true", side)

    assert json.loads(raw)["content"][0]["text"] == stub.side_text
    assert stub.pending() == 1
    _, _, raw = post(stub, "/v1/messages?beta=true", {**MAIN_BODY, "stream": False})
    assert json.loads(raw)["content"][0]["text"] == "for the conversation"
    assert [r.main for r in stub.requests] == [False, True]


def test_count_tokens_and_unknown_paths(stub: ModelStub) -> None:
    status, _, raw = post(stub, "/v1/messages/count_tokens", MAIN_BODY)
    assert status == 200
    assert json.loads(raw) == {"input_tokens": 12}

    status, _, raw = post(stub, "/v1/nothing", {})
    assert status == 404
    assert json.loads(raw)["type"] == "error"
    assert stub.unknown == ["POST /v1/nothing"]


def test_every_request_is_recorded(stub: ModelStub) -> None:
    post(stub, "/v1/messages?beta=true", MAIN_BODY)

    (recorded,) = stub.requests
    assert recorded.method == "POST"
    assert recorded.path == "/v1/messages?beta=true"
    assert recorded.headers["x-api-key"] == "k"
    assert recorded.body == MAIN_BODY
    assert recorded.last_user_text() == "hi stub"
    assert stub.main_requests() == [recorded]


def test_real_cli_print_mode_against_the_stub(stub: ModelStub) -> None:
    """`claude -p` talks to the stub: one conversation turn, side requests kept apart."""
    stub.reply_text("scripted for print mode")
    with short_tmpdir() as tmp:
        cwd = tmp / "w"
        cwd.mkdir()
        seed_claude_home(tmp / "h", cwd)
        done = subprocess.run(
            [str(claude_binary()), "-p", "hello print"],
            cwd=cwd,
            env=claude_environment(tmp / "h", stub.url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "scripted for print mode"
    (turn,) = stub.main_requests()
    assert turn.path == "/v1/messages?beta=true"
    assert turn.body["stream"] is True
    assert turn.last_user_text() == "hello print"
    print("CLI requests:", [(r.method, r.path, r.main) for r in stub.requests])
    print("unknown paths:", stub.unknown)

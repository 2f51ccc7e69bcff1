"""The stream-json protocol helpers (pure)."""

from __future__ import annotations

import json

import pytest

from wzp_supervisor import stream_json as sj


def test_worker_argv_and_the_lines_written() -> None:
    argv = sj.worker_argv(
        ["claude"], session_id="s-1", permission_mode="default", allowed_tools=("Read", "Bash")
    )
    assert argv == [
        "claude",
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--session-id",
        "s-1",
        "--permission-mode",
        "default",
        "--allowedTools",
        "Read,Bash",
    ]
    assert "--resume" in sj.worker_argv(["claude"], session_id="x", resume="r")
    line = sj.user_line("héllo\nworld", "s-1")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "type": "user",
        "message": {"role": "user", "content": "héllo\nworld"},
        "parent_tool_use_id": None,
        "session_id": "s-1",
    }
    interrupt = json.loads(sj.interrupt_line("r1"))
    assert interrupt["request"] == {"subtype": "interrupt"} and interrupt["request_id"] == "r1"


@pytest.mark.parametrize(
    "line", [b"not json", b"[1]", b'{"no": "type"}', b'{"type": 3}', b"\xff\xfe", b"[" * 100_000]
)
def test_malformed_lines_parse_to_none(line: bytes) -> None:
    assert sj.parse_line(line) is None


def test_describe_bad_line_escapes_control_characters() -> None:
    shown = sj.describe_bad_line(b"\x1b[31mred\x07" + b"x" * 300)
    assert "\x1b" not in shown and "\x07" not in shown and shown.endswith("…")


def test_a_result_becomes_a_turn_result_with_this_turns_cost() -> None:
    message = sj.parse_line(
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "result": "hi",
                "total_cost_usd": 0.5,
                "usage": {"input_tokens": 3},
                "modelUsage": {"m": {"costUSD": 0.5}},
                "duration_ms": 1500,
                "session_id": "s",
            }
        ).encode()
    )
    assert message is not None and sj.total_cost(message) == 0.5
    result = sj.turn_result(message, "p/w1", 0.2, "fallback")
    assert result == {
        "text": "hi",
        "is_error": False,
        "subtype": "success",
        "cost_usd": 0.2,
        "usage": {"input_tokens": 3, "modelUsage": {"m": {"costUSD": 0.5}}},
        "duration_s": 1.5,
        "session_id": "s",
        "worker": "p/w1",
    }
    assert not sj.is_rate_limited(message)


def test_rate_limit_signals() -> None:
    event = sj.parse_line(
        b'{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1700}}'
    )
    assert event is not None and sj.rate_limit_reset(event) == (True, 1700.0)
    retry = sj.parse_line(
        b'{"type":"system","subtype":"api_retry","error_status":429,"retry_delay_ms":2500}'
    )
    assert retry is not None and sj.retry_pause(retry) == 2.5
    other = sj.parse_line(b'{"type":"system","subtype":"api_retry","error_status":500}')
    assert other is not None and sj.retry_pause(other) is None
    failed = sj.parse_line(b'{"type":"result","is_error":true,"api_error_status":429}')
    assert failed is not None and sj.is_rate_limited(failed)

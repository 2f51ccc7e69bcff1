"""Claude Code's headless stream-json protocol: the lines we write and what we read back.

Pure: no I/O. A worker runs ``claude -p --input-format stream-json --output-format
stream-json --verbose``; each user message is one JSON line on its stdin, and its stdout
carries one JSON object per line (``system``, ``assistant``, ``user``, ``stream_event``,
``rate_limit_event``, ``control_response`` and, once per turn, ``result``). Totals in a
``result`` are cumulative for the process.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

STREAM_FLAGS = (
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
)
"""The flags that make the CLI a headless worker."""

MAX_LINE_BYTES = 16 << 20
"""A longer stdout line is dropped (logged) instead of growing the buffer without end."""


class TurnResult(TypedDict):
    """What a finished turn gave (a pool task's ``result``)."""

    text: str
    is_error: bool
    subtype: str
    cost_usd: float
    usage: dict[str, Any]
    duration_s: float | None
    session_id: str | None
    worker: str


def worker_argv(
    command: Sequence[str],
    *,
    session_id: str | None = None,
    resume: str | None = None,
    permission_mode: str | None = None,
    allowed_tools: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of one headless worker."""
    argv = [*command, *STREAM_FLAGS]
    if resume is not None:
        argv += ["--resume", resume]
    elif session_id is not None:
        argv += ["--session-id", session_id]
    if permission_mode is not None:
        argv += ["--permission-mode", permission_mode]
    if allowed_tools:
        argv += ["--allowedTools", ",".join(allowed_tools)]
    return [*argv, *extra]


def new_session_id() -> str:
    """A fresh session id for ``--session-id``."""
    return str(uuid.uuid4())


def user_line(prompt: str, session_id: str | None) -> bytes:
    """One user message, as the stdin line that starts a turn."""
    message = {
        "type": "user",
        "message": {"role": "user", "content": prompt},
        "parent_tool_use_id": None,
        "session_id": session_id or "",
    }
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


def interrupt_line(request_id: str) -> bytes:
    """The control request that interrupts the running turn."""
    message = {
        "type": "control_request",
        "request_id": request_id,
        "request": {"subtype": "interrupt"},
    }
    return json.dumps(message).encode() + b"\n"


@dataclass(frozen=True)
class Message:
    """One parsed stdout line: its ``type`` (``subtype`` where it has one) and its body."""

    type: str
    subtype: str
    body: Mapping[str, Any]


def parse_line(line: bytes) -> Message | None:
    """The message on ``line``, or None when it is not a JSON object with a string ``type``."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if not isinstance(kind, str):
        return None
    subtype = data.get("subtype")
    return Message(kind, subtype if isinstance(subtype, str) else "", data)


def describe_bad_line(line: bytes, limit: int = 200) -> str:
    """A short printable excerpt of a malformed line (control characters escaped)."""
    text = line[:limit].decode("utf-8", "replace")
    shown = text.encode("unicode_escape").decode("ascii")
    return shown + ("…" if len(line) > limit else "")


def session_of(message: Message) -> str | None:
    """The session id a message carries, if any."""
    value = message.body.get("session_id")
    return value if isinstance(value, str) and value else None


def assistant_text(message: Message) -> str:
    """The text blocks of an ``assistant`` message, joined."""
    inner = message.body.get("message")
    content = inner.get("content") if isinstance(inner, Mapping) else None
    if not isinstance(content, list):
        return ""
    parts = [
        block["text"]
        for block in content
        if isinstance(block, Mapping)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    ]
    return "".join(parts)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def total_cost(message: Message) -> float | None:
    """``total_cost_usd`` of a ``result`` (cumulative for the process)."""
    return _number(message.body.get("total_cost_usd"))


def turn_result(message: Message, worker: str, cost_delta: float, fallback_text: str) -> TurnResult:
    """A ``result`` message as a task result (cost is this turn's share)."""
    body = message.body
    text = body.get("result")
    if not isinstance(text, str):
        text = fallback_text
    usage = body.get("usage")
    duration_ms = _number(body.get("duration_ms"))
    model_usage = body.get("modelUsage")
    usage_out: dict[str, Any] = dict(usage) if isinstance(usage, Mapping) else {}
    if isinstance(model_usage, Mapping):
        usage_out["modelUsage"] = dict(model_usage)
    return {
        "text": text,
        "is_error": body.get("is_error") is True,
        "subtype": message.subtype or "unknown",
        "cost_usd": round(max(0.0, cost_delta), 10),
        "usage": usage_out,
        "duration_s": duration_ms / 1000.0 if duration_ms is not None else None,
        "session_id": session_of(message),
        "worker": worker,
    }


def errors_of(message: Message) -> str:
    """The ``errors`` a failed ``result`` lists (a session that cannot be resumed, …), joined."""
    errors = message.body.get("errors")
    if not isinstance(errors, list):
        return ""
    return "; ".join(str(e) for e in errors if isinstance(e, str | int | float))[:500]


def is_rate_limited(message: Message) -> bool:
    """Whether a ``result`` ended in an HTTP 429 (the turn did not run: try it again later)."""
    body = message.body
    if body.get("api_error_status") == 429:
        return True
    return body.get("is_error") is True and "429" in str(body.get("result", ""))[:200]


def rate_limit_reset(message: Message) -> tuple[bool, float | None]:
    """For a ``rate_limit_event``: whether requests are refused now, and until when (epoch
    seconds, None when the CLI does not say)."""
    info = message.body.get("rate_limit_info")
    if not isinstance(info, Mapping):
        return False, None
    rejected = info.get("status") == "rejected"
    resets = _number(info.get("resetsAt"))
    return rejected, resets


def retry_pause(message: Message) -> float | None:
    """For a ``system/api_retry`` after an HTTP 429: the seconds until the CLI tries again."""
    if message.type != "system" or message.subtype != "api_retry":
        return None
    if message.body.get("error_status") != 429:
        return None
    delay_ms = _number(message.body.get("retry_delay_ms"))
    return max(0.0, delay_ms / 1000.0) if delay_ms is not None else None

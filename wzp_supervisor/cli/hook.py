"""``wzp hook EVENT``: forward one Claude Code hook event to the hub, fast, never failing.

Claude Code runs this for every hook event with the event's JSON payload on stdin. It keeps
the useful fields, tags them with ``$WZP_AGENT``, sends one ``status.update`` line to the hub
socket (found and connected to by :mod:`wzp_supervisor.cli.hub_client`, encoded by
:mod:`wzp_supervisor.protocol`) and waits for the one-line reply, all within
:data:`DEADLINE_S`. Whatever happens (no daemon, refused connection, timeout, bad input) it
exits 0 and prints nothing on stdout, which Claude Code may read as hook output. With
``$WZP_HOOK_DEBUG`` set it prints one line on stderr saying what happened; it always does
when it refused to talk to a hub socket that is not private to us (and sent nothing).

It sits on the latency path of every tool call, so it imports only the standard library and
the stdlib-only modules named above, and no typing at run time.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

from wzp_supervisor import protocol
from wzp_supervisor.cli import hub_client

TYPE_CHECKING = False  # typing itself costs ~5 ms to import; mypy understands this idiom
if TYPE_CHECKING:
    from typing import Any

DEADLINE_S = 1.0
"""Overall budget from start to exit: reading stdin, connecting, sending, the reply."""

MAX_STDIN_BYTES = 1 << 20
"""At most this much of the payload is read; more is cut (and then likely bad JSON)."""

RAW_CHARS = 4096
"""How much of an unparsable payload is forwarded as ``{"raw": …}``."""

# Field → longest kept string (None: short scalar kept as is).
_FIELDS: dict[str, int | None] = {
    "session_id": 200,
    "transcript_path": 4096,
    "cwd": 4096,
    "hook_event_name": 100,
    "source": 100,
    "reason": 100,
    "notification_type": 100,
    "message": 4096,
    "title": 1024,
    "tool_name": 200,
    "tool_use_id": 200,
    "permission_mode": 100,
    "stop_hook_active": None,
    "last_assistant_message": 16384,
    "prompt": 4096,
    "error": 100,  # StopFailure: the kind of API error
    "error_details": 4096,
    "mcp_server_name": 200,
}
# Fields of tool_input worth keeping (to say what a permission request is about).
_TOOL_INPUT_FIELDS = ("command", "description", "file_path", "url", "pattern")
_TOOL_INPUT_CHARS = 1024


def _uuid4() -> str:
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _read_stdin(deadline: float) -> bytes:
    """Up to :data:`MAX_STDIN_BYTES` of stdin, stopping at EOF or the deadline."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return b""
    if os.isatty(fd):
        return b""
    chunks: list[bytes] = []
    size = 0
    while size < MAX_STDIN_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        chunk = os.read(fd, min(65536, MAX_STDIN_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _cut(value: Any, limit: int | None) -> Any:
    """``value`` cut to ``limit`` characters, lone surrogates (JSON allows them, the hub
    refuses them) replaced by U+FFFD."""
    if not isinstance(value, str):
        return value
    if limit is not None and len(value) > limit:
        value = value[:limit]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def slim_payload(raw: bytes) -> dict[str, Any]:
    """The fields of a hook payload worth sending, truncated; ``{"raw": …}`` for bad JSON."""
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return {"raw": text[:RAW_CHARS]}
    if not isinstance(data, dict):
        return {"raw": text[:RAW_CHARS]}
    slim = {key: _cut(data[key], limit) for key, limit in _FIELDS.items() if key in data}
    tool_input = data.get("tool_input")
    if isinstance(tool_input, dict):
        kept = {
            key: _cut(tool_input[key], _TOOL_INPUT_CHARS)
            for key in _TOOL_INPUT_FIELDS
            if isinstance(tool_input.get(key), str)
        }
        if kept:
            slim["tool_input"] = kept
    return slim


def _send(line: bytes, deadline: float) -> bytes:
    """Send ``line`` to the hub; return the reply line (may be partial)."""
    path = hub_client.hub_socket_path()
    sock = hub_client.connect_hub(path, max(deadline - time.monotonic(), 0.001))
    try:
        sock.sendall(line)
        reply = b""
        while b"\n" not in reply:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from the hub before the deadline")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply
    finally:
        sock.close()


def _failure(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, naming the OS error behind it when there is one."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    return f"{text} ({type(cause).__name__})" if cause is not None else text


def main(argv: list[str]) -> int:
    """Run ``wzp hook EVENT`` (``argv`` starts after ``hook``); always returns 0."""
    start = time.monotonic()
    deadline = start + DEADLINE_S
    debug = bool(os.environ.get("WZP_HOOK_DEBUG"))
    event = argv[0] if argv else ""
    outcome = "sent"
    try:
        raw = _read_stdin(deadline)
        agent = os.environ.get("WZP_AGENT")
        if not agent:
            outcome = "skipped: WZP_AGENT is not set"
        elif not event:
            outcome = "skipped: no event name"
        else:
            message = {
                "v": protocol.VERSION,
                "id": _uuid4(),
                "type": "status.update",
                "agent": agent,
                "event": event,
                "payload": slim_payload(raw),
                "ts": time.time(),
            }
            reply = _send(protocol.encode(message), deadline)
            outcome = f"reply {reply.strip()[:200]!r}"
    except hub_client.UnsafeHub as exc:  # nothing was sent; say so even without debug
        outcome = f"not sent: {exc}"
        debug = True
    except Exception as exc:
        outcome = f"failed: {_failure(exc)}"
    if debug:
        elapsed_ms = (time.monotonic() - start) * 1000
        from wzp_supervisor.cli.printable import printable

        print(printable(f"wzp hook {event}: {outcome} ({elapsed_ms:.1f} ms)"), file=sys.stderr)
    return 0

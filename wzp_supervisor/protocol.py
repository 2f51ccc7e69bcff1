"""The hub protocol: newline-delimited JSON envelopes on a Unix stream socket.

A request is ``{"v":1,"id":…,"type":…, …fields}``; its reply carries the same id and either
``"ok": true`` with result fields or ``"ok": false`` with ``{"error":{"code","message"}}``.
Standard library only: the CLI and the hook import this on every call.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # typing costs milliseconds to import; the hook command imports this
if TYPE_CHECKING:
    from typing import Any

VERSION = 1
DEFAULT_MAX_BYTES = 1_048_576

# Error codes carried in error replies.
BAD_JSON = "bad_json"
BAD_REQUEST = "bad_request"
UNKNOWN_TYPE = "unknown_type"
TOO_LARGE = "too_large"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
LIMIT = "limit"
INVALID = "invalid"
INTERNAL = "internal"
TIMEOUT = "timeout"


class ProtocolError(Exception):
    """A message that cannot be served; carries the error code for the reply."""

    def __init__(self, code: str, message: str, msg_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.msg_id = msg_id
        """The id of the request it answers, when the request got that far."""


# Where a decoded string may hold a lone surrogate: a \uD800-\uDFFF escape, or the same
# code point written as (invalid) UTF-8 bytes, which json.loads lets through.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line; never fails on text that is not valid Unicode.

    A lone surrogate (which UTF-8 cannot encode) is written as its JSON escape
    (``\\ud800``), so the line decodes back to the same string.
    """
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace") + b"\n"


def _lone_surrogate(message: dict[str, Any]) -> str | None:
    """The dotted path of the first key or string in ``message`` with a lone surrogate."""
    stack: list[tuple[str, Any]] = [("", message)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                if not _encodable(key):
                    return path
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_request(line: bytes) -> dict[str, Any]:
    """Parse and check one request line; raises ProtocolError with the reason."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(BAD_JSON, f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(BAD_REQUEST, "a message must be a JSON object")
    msg_id = message.get("id")
    if msg_id is not None and (isinstance(msg_id, bool) or not isinstance(msg_id, str | int)):
        raise ProtocolError(BAD_REQUEST, "'id' must be a string or an integer")
    version = message.get("v", VERSION)
    if version != VERSION:
        raise ProtocolError(BAD_REQUEST, f"unsupported protocol version {version!r}", msg_id)
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError(BAD_REQUEST, "missing 'type'", msg_id)
    if _MAYBE_SURROGATE.search(line):
        where = _lone_surrogate(message)
        if where is not None:
            raise ProtocolError(
                BAD_REQUEST,
                f"field '{where}' is not valid Unicode text (it holds a lone surrogate, "
                "as bytes that are not UTF-8 become)",
                msg_id,
            )
    return message


def reply_ok(msg_id: Any, **fields: Any) -> dict[str, Any]:
    """A success reply to the request with ``msg_id``."""
    return {"v": VERSION, "id": msg_id, "ok": True, **fields}


def reply_error(msg_id: Any, code: str, message: str) -> dict[str, Any]:
    """An error reply to the request with ``msg_id``."""
    return {"v": VERSION, "id": msg_id, "ok": False, "error": {"code": code, "message": message}}


def field(message: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    """A typed field of a request, or ProtocolError(bad_request) naming it."""
    value = message.get(name)
    if value is None:
        if required:
            raise ProtocolError(BAD_REQUEST, f"missing field '{name}'")
        return None
    if kind is int and isinstance(value, bool):
        raise ProtocolError(BAD_REQUEST, f"field '{name}' must be {kind.__name__}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind):
        raise ProtocolError(BAD_REQUEST, f"field '{name}' must be {kind.__name__}")
    return value

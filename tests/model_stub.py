"""A loopback stand-in for the Anthropic Messages API, for driving the real Claude Code CLI.

The stub listens on 127.0.0.1 (port 0) in a background thread and answers:

- ``POST /v1/messages`` (with or without ``?beta=true``): a streaming SSE reply when the body
  says ``"stream": true``, else one JSON message;
- ``POST /v1/messages/count_tokens``: a small token count;
- anything else: logged in :attr:`ModelStub.unknown` and answered 404 with an API error body.

Replies for the *main conversation* come from a per-test queue (:meth:`ModelStub.reply_text`,
:meth:`ModelStub.reply_tool_use`); when the queue is empty the stub echoes the last user text
as ``"stub reply: <text>"``. Side requests the CLI makes on its own (session titles, topic
detection, quota probes: requests that carry no tools) never consume the queue; they get
:attr:`ModelStub.side_text`.

Every request is recorded in :attr:`ModelStub.requests` so tests can assert on what the CLI
sent.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_ids = itertools.count(1)


@dataclass(frozen=True)
class TextReply:
    """An assistant message with one text block, ending the turn."""

    text: str


@dataclass(frozen=True)
class ToolUseReply:
    """An assistant message asking for one tool call (stop_reason ``tool_use``)."""

    name: str
    input: Mapping[str, Any]
    text: str = ""
    tool_id: str = field(default_factory=lambda: f"toolu_stub{next(_ids):08d}")


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error answer (400, 429, 500, …) with an API error body, for one turn."""

    status: int
    message: str
    error_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers (``anthropic-ratelimit-unified-reset`` for a 429, say)."""

    @property
    def body(self) -> dict[str, Any]:
        kind = self.error_type or _ERROR_TYPES.get(self.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}}


@dataclass(frozen=True)
class StallReply:
    """A streaming answer that starts (message_start, some text) and then sends nothing more
    until ``seconds`` pass or the stub stops; then the connection is closed unfinished."""

    seconds: float = 3600.0
    text: str = "thinking"


@dataclass(frozen=True)
class SlowReply:
    """A streaming text answer sent word by word over ``seconds``, then finished normally."""

    text: str
    seconds: float = 5.0


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

Reply = TextReply | ToolUseReply
QueuedReply = Reply | ErrorReply | StallReply | SlowReply


@dataclass
class RecordedRequest:
    """One HTTP request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    main: bool = False
    """True when it was treated as a main-conversation turn (and consumed the queue)."""

    def last_user_text(self) -> str:
        """The text of the last user message of a Messages request ('' if none)."""
        return _last_user_text(self.body)

    def tool_results(self) -> list[dict[str, Any]]:
        """``tool_result`` blocks of the last user message."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        if not messages:
            return []
        content = messages[-1].get("content")
        if not isinstance(content, list):
            return []
        return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _last_user_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [
            str(b.get("text", ""))
            for b in content or []
            if isinstance(b, dict)
            and b.get("type") == "text"
            and not str(b.get("text", "")).startswith("<system-reminder>")
        ]
        if texts:
            return texts[-1]
    return ""


def is_main_request(body: Any) -> bool:
    """Whether a Messages request is a turn of the main conversation.

    The CLI's own side requests (title generation, quota probes, …) carry no tools; the
    conversation always offers its tool set.
    """
    return isinstance(body, dict) and bool(body.get("tools"))


def _content_blocks(reply: Reply) -> list[dict[str, Any]]:
    if isinstance(reply, TextReply):
        return [{"type": "text", "text": reply.text}]
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    blocks.append(
        {"type": "tool_use", "id": reply.tool_id, "name": reply.name, "input": dict(reply.input)}
    )
    return blocks


def _stop_reason(reply: Reply) -> str:
    return "end_turn" if isinstance(reply, TextReply) else "tool_use"


def _usage(output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": 12,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message_json(reply: Reply, model: str) -> dict[str, Any]:
    """The non-streaming Messages API response for ``reply``."""
    return {
        "id": f"msg_stub{next(_ids):08d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content_blocks(reply),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage(8),
    }


def sse_events(reply: Reply, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The streaming SSE events (name, data) for ``reply``."""
    start = message_json(reply, model)
    start.update(content=[], stop_reason=None, usage=_usage(1))
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(_content_blocks(reply)):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": block["text"]},
                },
            )
        else:
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "input": {}},
                },
            )
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": json.dumps(block["input"]),
                    },
                },
            )
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
            "usage": {"output_tokens": 8},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def sse_body(reply: Reply, model: str) -> bytes:
    """The whole SSE stream for ``reply`` as bytes."""
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        for name, data in sse_events(reply, model)
    )


class ModelStub:
    """The stub server; use as a context manager (or call :meth:`start` / :meth:`stop`)."""

    def __init__(self, side_text: str = "Stub title") -> None:
        self.side_text = side_text
        """Text answered to side requests (those without tools)."""
        self.requests: list[RecordedRequest] = []
        self.unknown: list[str] = []
        """``METHOD path`` of every request the stub has no answer for."""
        self._queue: deque[QueuedReply] = deque()
        self._released = threading.Event()
        self._errors_for: dict[str, ErrorReply] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for ``ANTHROPIC_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("model stub not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply_text(self, text: str) -> None:
        """Queue a text reply for the next main-conversation turn."""
        with self._lock:
            self._queue.append(TextReply(text))

    def reply_tool_use(self, name: str, tool_input: Mapping[str, Any], text: str = "") -> str:
        """Queue a tool_use reply; returns the tool_use id."""
        reply = ToolUseReply(name, tool_input, text)
        with self._lock:
            self._queue.append(reply)
        return reply.tool_id

    def reply_error(
        self,
        status: int,
        message: str,
        error_type: str = "",
        prompt: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue an HTTP error answer (e.g. 400, 429, 500) for the next main-conversation
        request; with ``prompt``, answer it instead to every main request whose last user
        text is ``prompt`` (however often the CLI retries). ``headers`` are sent with it."""
        reply = ErrorReply(status, message, error_type, dict(headers or {}))
        with self._lock:
            if prompt is None:
                self._queue.append(reply)
            else:
                self._errors_for[prompt] = reply

    def reply_slowly(self, text: str, seconds: float = 5.0) -> None:
        """Queue a text answer streamed word by word over ``seconds`` (a long turn)."""
        with self._lock:
            self._queue.append(SlowReply(text, seconds))

    def reply_stall(self, seconds: float = 3600.0, text: str = "thinking") -> None:
        """Queue a stream that stops mid-way for ``seconds`` (or until :meth:`stop`)."""
        with self._lock:
            self._queue.append(StallReply(seconds, text))

    def pending(self) -> int:
        """How many queued replies are not yet used."""
        with self._lock:
            return len(self._queue)

    def main_requests(self) -> list[RecordedRequest]:
        """The main-conversation Messages requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.main]

    def next_reply(self, body: Any) -> tuple[QueuedReply, bool]:
        """Choose the reply for a Messages request body: (reply, is_main)."""
        if not is_main_request(body):
            return TextReply(self.side_text), False
        with self._lock:
            error = self._errors_for.get(_last_user_text(body))
            if error is not None:
                return error, True
            if self._queue:
                return self._queue.popleft(), True
        return TextReply(f"stub reply: {_last_user_text(body)}"), True

    def record(self, request: RecordedRequest) -> None:
        """Append a request to the log (thread-safe)."""
        with self._lock:
            self.requests.append(request)

    def start(self) -> ModelStub:
        """Bind 127.0.0.1:0 and serve in a daemon thread."""
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="model-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (stalled streams are released first)."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ModelStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-connection (the CLI being killed) are not errors here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: ModelStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; requests are recorded instead."""

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", f"req_stub{next(_ids):08d}")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _handle(self) -> None:
        body = self._read_body() if self.command in ("POST", "PUT", "PATCH") else None
        path = self.path.split("?", 1)[0]
        recorded = RecordedRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        self.owner.record(recorded)
        if self.command == "POST" and path == "/v1/messages":
            reply, recorded.main = self.owner.next_reply(body)
            model = str(body.get("model", "claude-stub")) if isinstance(body, dict) else "stub"
            if isinstance(reply, ErrorReply):
                self._send_json(reply.status, reply.body, reply.headers)
            elif isinstance(reply, StallReply):
                self._stall(reply, model)
            elif isinstance(reply, SlowReply):
                self._slow(reply, model)
            elif isinstance(body, dict) and body.get("stream"):
                self._send(200, sse_body(reply, model), "text/event-stream")
            else:
                self._send_json(200, message_json(reply, model))
        elif self.command == "POST" and path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": 12})
        elif self.command == "HEAD":
            # The CLI probes the base URL with ``HEAD /`` to see that it is reachable.
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.owner.unknown.append(f"{self.command} {self.path}")
            self._send_json(
                404,
                {
                    "type": "error",
                    "error": {"type": "not_found_error", "message": "stub: no such path"},
                },
            )

    def _stall(self, reply: StallReply, model: str) -> None:
        """Start a stream, send part of it, then hold the connection silent."""
        events = list(sse_events(TextReply(reply.text), model))[:3]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()
        self.owner._released.wait(reply.seconds)
        self.close_connection = True

    def _slow(self, reply: SlowReply, model: str) -> None:
        """Stream ``reply.text`` one word per event, spread over ``reply.seconds``."""
        words = reply.text.split(" ")
        events: list[tuple[str, dict[str, Any]]] = []
        for name, data in sse_events(TextReply(reply.text), model):
            if name == "content_block_delta" and data["delta"].get("type") == "text_delta":
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    delta = {**data, "delta": {"type": "text_delta", "text": piece}}
                    events.append((name, delta))
            else:
                events.append((name, data))
        pause = reply.seconds / max(1, len(words))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            if name == "content_block_delta" and self.owner._released.wait(pause):
                break  # the stub is stopping
        self.close_connection = True

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle
    do_HEAD = _handle


@pytest.fixture
def model_stub() -> Iterator[ModelStub]:
    """A started :class:`ModelStub`, stopped after the test."""
    with ModelStub() as stub:
        yield stub

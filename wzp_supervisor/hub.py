"""The hub: an asyncio Unix-socket server speaking NDJSON (see protocol.py) inside the daemon.

One handler per message type. A bad line (not JSON, unknown type, too long, wrong fields) gets
an error reply; only an oversize line closes the connection, since the stream cannot be
resynchronised. Nothing a client sends can take the daemon down. Peers must run as our uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wzp_supervisor import protocol, seed_messages
from wzp_supervisor.events import EventBus
from wzp_supervisor.peercred import peer_uid
from wzp_supervisor.protocol import ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class HubServer:
    """Serves requests on the hub socket; ``register`` adds a handler per message type."""

    def __init__(
        self,
        path: Path,
        bus: EventBus,
        max_bytes: int = protocol.DEFAULT_MAX_BYTES,
        request_timeout: float = 30.0,
    ) -> None:
        self.path = path
        self.bus = bus
        self.max_bytes = max_bytes
        self.request_timeout = request_timeout
        self.handlers: dict[str, Handler] = {}
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    def register(self, kind: str, handler: Handler) -> None:
        """Serve messages of type ``kind`` with ``handler`` (replaces an earlier one)."""
        self.handlers[kind] = handler

    def unregister(self, kind: str) -> None:
        """Stop serving ``kind`` (no error when it was not served)."""
        self.handlers.pop(kind, None)

    def serves(self, kind: str) -> bool:
        """Whether ``kind`` has a handler."""
        return kind in self.handlers

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)  # the socket is created 0600
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=os.fspath(self.path), limit=self.max_bytes + 1
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else None
            if uid is not None and uid != os.getuid():
                log.warning("refused a hub connection from uid %s", uid)
                await self._send(
                    writer,
                    protocol.reply_error(None, "forbidden", "this daemon serves only its own user"),
                )
                return
            await self._serve_lines(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("hub connection failed")
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_lines(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                await self._send(
                    writer,
                    protocol.reply_error(
                        None,
                        protocol.TOO_LARGE,
                        f"message longer than {self.max_bytes} bytes; closing the connection",
                    ),
                )
                return
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():
                    await self._send(
                        writer,
                        protocol.reply_error(
                            None, protocol.BAD_JSON, "message not terminated by a newline"
                        ),
                    )
                return
            if len(line) > self.max_bytes + 1:
                await self._send(
                    writer,
                    protocol.reply_error(
                        None, protocol.TOO_LARGE, f"message longer than {self.max_bytes} bytes"
                    ),
                )
                return
            if not line.strip():
                continue
            msg_id: Any = None
            seed = seed_messages.parse(line)  # the specification's {"TaskRequest": {…}} form
            try:
                message = seed.request() if seed else protocol.decode_request(line)
                msg_id = message.get("id")
                if message["type"] == "subscribe":
                    await self._subscribe(message, writer)
                    return
                handler = self.handlers.get(message["type"])
                if handler is None:
                    raise ProtocolError(
                        protocol.UNKNOWN_TYPE, f"unknown message type {message['type']!r}"
                    )
                result = await asyncio.wait_for(handler(message), self.request_timeout)
                reply = protocol.reply_ok(msg_id, **result)
            except ProtocolError as exc:
                reply = protocol.reply_error(msg_id, exc.code, exc.message)
            except TimeoutError:
                reply = protocol.reply_error(msg_id, protocol.TIMEOUT, "the request timed out")
            except Exception as exc:
                log.exception("handler for %r failed", line[:200])
                reply = protocol.reply_error(msg_id, protocol.INTERNAL, f"internal error: {exc}")
            await self._send(writer, seed.answer(reply) if seed else reply)

    async def _subscribe(self, message: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        topics = message.get("topics")
        if topics is not None and (
            not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)
        ):
            raise ProtocolError(protocol.BAD_REQUEST, "'topics' must be a list of strings")
        sub = self.bus.subscribe(frozenset(topics) if topics else None)
        try:
            await self._send(writer, protocol.reply_ok(message.get("id"), subscribed=True))
            while True:
                event = await sub.get()
                await self._send(writer, {"v": protocol.VERSION, "type": "event", "event": event})
        finally:
            self.bus.unsubscribe(sub)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(protocol.encode(message))
        await writer.drain()

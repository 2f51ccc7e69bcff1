"""The hub: an asyncio Unix-socket server speaking NDJSON (see protocol.py) inside the daemon.

One handler per message type. A bad line (not JSON, unknown type, too long, wrong fields) gets
an error reply; only an oversize line closes the connection, since the stream cannot be
resynchronised. Nothing a client sends can take the daemon down. Peers must run as our uid.

Connections are capped, in total and per client process (by default from the open-files
limit, see :mod:`wzp_supervisor.fd_budget`): a client over a cap gets one ``limit`` error
reply, to its first request, and is closed. When ``accept()`` fails for want of descriptors
the hub stops accepting for a while (backing off up to a few seconds) and says so in the log
at most once a minute, instead of retrying in a busy loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wzp_supervisor import fd_budget, protocol, seed_messages
from wzp_supervisor.events import EventBus
from wzp_supervisor.peercred import peer_uid
from wzp_supervisor.protocol import ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

#: accept() errors that mean "out of descriptors or memory": back off, do not spin.
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_RESOURCE_LOG_INTERVAL = 60.0
#: A client over a cap has this long to send its first request (to get a reply with its id).
_REJECT_READ_TIMEOUT = 2.0
_REJECT_READ_BYTES = 65536
#: Over-cap clients waited on at once; more are closed without a word.
_MAX_REJECTING = 8


def peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process on the other end of a Unix socket (None when unknown)."""
    try:
        if sys.platform.startswith("linux"):
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return int(struct.unpack("3i", creds)[0])
        if sys.platform == "darwin":  # LOCAL_PEERPID
            return int(struct.unpack("i", sock.getsockopt(0, 0x002, struct.calcsize("i")))[0])
    except OSError:
        return None
    return None


class HubServer:
    """Serves requests on the hub socket; ``register`` adds a handler per message type."""

    def __init__(
        self,
        path: Path,
        bus: EventBus,
        max_bytes: int = protocol.DEFAULT_MAX_BYTES,
        request_timeout: float = 30.0,
        max_connections: int | None = None,
        max_per_peer: int | None = None,
    ) -> None:
        """``max_connections`` and ``max_per_peer`` default to what the open-files limit at
        :meth:`start` allows (:func:`~wzp_supervisor.fd_budget.hub_connection_cap`)."""
        self.path = path
        self.bus = bus
        self.max_bytes = max_bytes
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.handlers: dict[str, Handler] = {}
        self._listener: socket.socket | None = None
        self._accepting = False
        self._clients: set[asyncio.Task[Any]] = set()
        self._per_peer: Counter[int | None] = Counter()
        self._rejecting: set[socket.socket] = set()  # refused clients being answered
        self._backoff = 0.0
        self._retry: asyncio.TimerHandle | None = None
        self._resource_logged_at = -_RESOURCE_LOG_INTERVAL
        self._resource_failures = 0

    def register(self, kind: str, handler: Handler) -> None:
        """Serve messages of type ``kind`` with ``handler`` (replaces an earlier one)."""
        self.handlers[kind] = handler

    def unregister(self, kind: str) -> None:
        """Stop serving ``kind`` (no error when it was not served)."""
        self.handlers.pop(kind, None)

    def serves(self, kind: str) -> bool:
        """Whether ``kind`` has a handler."""
        return kind in self.handlers

    @property
    def connections(self) -> int:
        """Clients connected now (over-cap clients being refused are not counted)."""
        return sum(self._per_peer.values())

    async def start(self) -> None:
        """Listen on the socket (mode 0600) and start accepting clients."""
        total = self.max_connections or fd_budget.hub_connection_cap(fd_budget.nofile_limit())
        self.max_connections = total
        if self.max_per_peer is None:
            self.max_per_peer = fd_budget.per_peer_connection_cap(total)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)  # the socket is created 0600
            try:
                listener.bind(os.fspath(self.path))
            finally:
                os.umask(old_umask)
            os.chmod(self.path, 0o600)
            listener.listen(min(socket.SOMAXCONN, 128))
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._resume_accepting()

    async def stop(self) -> None:
        """Stop accepting, end every client and remove the socket."""
        if self._listener is not None:
            self._pause_accepting()
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            self._listener.close()
            self._listener = None
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- accepting ---------------------------------------------------------------------------

    def _resume_accepting(self) -> None:
        self._retry = None
        if self._listener is None or self._accepting:
            return
        asyncio.get_running_loop().add_reader(self._listener.fileno(), self._on_acceptable)
        self._accepting = True

    def _pause_accepting(self) -> None:
        if self._listener is not None and self._accepting:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
        self._accepting = False

    def _on_acceptable(self) -> None:
        listener = self._listener
        if listener is None:
            return
        for _ in range(64):  # a bounded batch per wake-up, so other work gets its turn
            try:
                conn, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRORS:
                    self._back_off(exc)
                else:
                    log.warning("hub: accept() failed: %s", exc)
                return
            self._backoff = 0.0
            self._admit(conn)

    def _back_off(self, exc: OSError) -> None:
        """Out of descriptors: stop accepting for a while instead of failing in a loop."""
        self._pause_accepting()
        self._backoff = min(_BACKOFF_MAX, self._backoff * 2 or _BACKOFF_FIRST)
        self._resource_failures += 1
        now = time.monotonic()
        if now - self._resource_logged_at >= _RESOURCE_LOG_INTERVAL:
            log.error(
                "hub: cannot accept connections: %s (%d clients connected, %d failures since "
                "the last report); pausing, retrying with backoff up to %gs",
                exc.strerror or exc,
                self.connections,
                self._resource_failures,
                _BACKOFF_MAX,
            )
            self._resource_logged_at = now
            self._resource_failures = 0
        self._retry = asyncio.get_running_loop().call_later(self._backoff, self._resume_accepting)

    def _admit(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        try:
            uid = peer_uid(conn)
        except OSError:
            uid = None
        pid = peer_pid(conn)
        total = self.max_connections or 0
        per_peer = self.max_per_peer or 0
        code = protocol.LIMIT
        if uid is not None and uid != os.getuid():
            log.warning("refused a hub connection from uid %s", uid)
            code, reason = "forbidden", "this daemon serves only its own user"
        elif self.connections >= total:
            reason = (
                f"the daemon is at its connection cap ({total} clients); "
                "close idle clients (or raise `ulimit -n`) and retry"
            )
        elif self._per_peer[pid] >= per_peer:
            reason = (
                f"process {pid} already holds {per_peer} connections to the daemon, "
                "its per-client cap; close some and retry"
            )
        else:
            self._per_peer[pid] += 1
            self._spawn(self._open(conn, pid))
            return
        if len(self._rejecting) >= _MAX_REJECTING:
            self._forget_hung_up_rejects()
        if len(self._rejecting) >= _MAX_REJECTING:
            conn.close()
            return
        self._rejecting.add(conn)
        self._spawn(self._reject(conn, code, reason))

    def _forget_hung_up_rejects(self) -> None:
        """Free the places of refused clients that have hung up already (their tasks may not
        have run since), so a client arriving right after them is still told why."""
        for conn in list(self._rejecting):
            try:
                gone = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                self._rejecting.discard(conn)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)

    async def _open(self, conn: socket.socket, pid: int | None) -> None:
        try:
            try:
                reader, writer = await asyncio.open_unix_connection(
                    sock=conn, limit=self.max_bytes + 1
                )
            except OSError:
                conn.close()
                return
            await self._serve(reader, writer)
        finally:
            self._per_peer[pid] -= 1
            if self._per_peer[pid] <= 0:
                del self._per_peer[pid]

    async def _reject(self, conn: socket.socket, code: str, reason: str) -> None:
        """Refuse a client: an error with ``code`` in reply to its first request, then close.

        Reading that request first lets the reply carry its id, and spares the client a
        broken pipe while it is still sending.
        """
        loop = asyncio.get_running_loop()
        try:
            data = b""
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(_REJECT_READ_TIMEOUT):
                    while b"\n" not in data and len(data) < _REJECT_READ_BYTES:
                        chunk = await loop.sock_recv(conn, 4096)
                        if not chunk:
                            break
                        data += chunk
            msg_id: Any = None
            with contextlib.suppress(Exception):  # any garbage: answer without an id
                msg_id = protocol.decode_request(data.split(b"\n", 1)[0] + b"\n").get("id")
            reply = protocol.encode(protocol.reply_error(msg_id, code, reason))
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(_REJECT_READ_TIMEOUT):
                    await loop.sock_sendall(conn, reply)
        finally:
            self._rejecting.discard(conn)
            conn.close()

    # -- serving -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_lines(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("hub connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_lines(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                first = await reader.read(1)  # a client may stay idle between requests
                if not first:
                    return
                # but once it starts a request, the request must arrive whole in time: a
                # half-sent line must not hold one of the hub's places for ever
                line = first + await asyncio.wait_for(reader.readuntil(b"\n"), self.request_timeout)
            except TimeoutError:
                await self._send(
                    writer,
                    protocol.reply_error(
                        None,
                        protocol.TIMEOUT,
                        f"request not completed within {self.request_timeout:g}s; closing",
                    ),
                )
                return
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
                if msg_id is None and exc.msg_id is not None:
                    msg_id = exc.msg_id  # refused while decoding, after its id was read
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

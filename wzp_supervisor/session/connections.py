"""The client side of a session holder's loop: accepting, per-client buffers, frame assembly.

``Connections`` accepts clients on the listening socket (our own uid only), reads what they
send into a per-client ``wire.Decoder`` and hands each complete frame to a callback; what the
holder sends goes out at once or waits in the client's output buffer until the socket is
writable. A frame callback that raises refuses that client with an ERROR frame; nothing a
client sends reaches further than its own connection.

Bounds: a client frame is at most ``wire.MAX_CLIENT_FRAME`` bytes, and at most
``MAX_CLIENTS`` connections are kept: a new one pushes out the oldest connection that is not
an attacher (a half-sent HELLO, a reply nobody reads), or is refused when all are attachers.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

from wzp_supervisor.peercred import peer_uid
from wzp_supervisor.session import wire

RECV_CHUNK = 262144
MAX_CLIENTS = 32
SOCKET_BUFFER = 1024 * 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class Connection:
    """One client: its socket, what it has half-sent, and what is queued for it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = wire.Decoder(wire.MAX_CLIENT_FRAME)
        self.out = bytearray()
        self.mode: str | None = None
        self.cols = 0
        self.rows = 0
        self.closing = False
        self.closed = False


FrameHandler = Callable[[Connection, wire.Frame, bytes], None]


class Connections:
    """Every client of one holder, served from the holder's selector."""

    def __init__(
        self,
        sel: selectors.BaseSelector,
        on_frame: FrameHandler,
        on_drained: Callable[[], None],
    ) -> None:
        self.sel = sel
        self.on_frame = on_frame
        self.on_drained = on_drained
        self.conns: dict[Connection, None] = {}  # oldest first
        self.attachers: list[Connection] = []

    # -- in ----------------------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        """Take every pending connection from ``listener``."""
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # nothing pending, or no fd left: try again on the next event
                return
            try:
                ours = peer_uid(sock) in (None, os.getuid())
            except OSError:
                ours = False
            if not ours:
                sock.close()
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            if len(self.conns) >= MAX_CLIENTS and not self._make_room():
                with contextlib.suppress(OSError):
                    sock.send(self._too_many)
                sock.close()
                continue
            conn = Connection(sock)
            self.conns[conn] = None
            self.sel.register(sock, _READ, lambda mask, conn=conn: self.on_event(conn, mask))

    _too_many = wire.encode_json(wire.Frame.ERROR, {"message": "too many clients"})

    def _make_room(self) -> bool:
        """Drop the oldest connection that is not an attacher; False if all are."""
        for conn in self.conns:
            if conn.mode != "attach":
                self.send(conn, self._too_many)
                self.drop(conn)
                return True
        return False

    def attach(self, conn: Connection) -> None:
        """``conn`` becomes an attacher: it gets the live output."""
        conn.mode = "attach"
        self.attachers.append(conn)

    def on_event(self, conn: Connection, mask: int) -> None:
        """The client's socket is readable or writable."""
        if conn.closed:
            return
        if mask & _WRITE:
            self.flush(conn)
        if not mask & _READ or conn.closed:
            return
        try:
            data = conn.sock.recv(RECV_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(conn)
            return
        try:
            frames = conn.decoder.feed(data)
        except wire.WireError as exc:
            self.refuse(conn, str(exc))
            return
        for kind, payload in frames:
            if conn.closed or conn.closing:
                return
            try:
                self.on_frame(conn, kind, payload)
            except Exception as exc:  # whatever a client sends, only its connection ends
                self.refuse(conn, str(exc) or type(exc).__name__)

    # -- out ---------------------------------------------------------------------------------

    def send(self, conn: Connection, frame: bytes) -> None:
        """Send ``frame`` to ``conn`` now, or queue it behind what is already waiting."""
        if conn.closed:
            return
        if conn.out:
            conn.out += frame
            return
        try:
            sent = conn.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.drop(conn)
            return
        if sent < len(frame):
            conn.out += memoryview(frame)[sent:]
            self.sel.modify(conn.sock, _READ | _WRITE, self.sel.get_key(conn.sock).data)

    def flush(self, conn: Connection) -> None:
        """Send what is queued for ``conn`` as far as its socket takes it."""
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError:
            self.drop(conn)
            return
        del conn.out[:sent]
        if not conn.out:
            if conn.closing:
                self.drop(conn)
                return
            self.sel.modify(conn.sock, _READ, self.sel.get_key(conn.sock).data)
        self.on_drained()

    def reply(self, conn: Connection, obj: dict[str, Any]) -> None:
        """The single INFO reply of a request; the connection closes once it is sent."""
        self.send(conn, wire.encode_json(wire.Frame.INFO, obj))
        self.close_after_flush(conn)

    def refuse(self, conn: Connection, message: str) -> None:
        """An ERROR frame, then the connection closes."""
        self.send(conn, wire.encode_json(wire.Frame.ERROR, {"message": message}))
        self.close_after_flush(conn)

    def close_after_flush(self, conn: Connection) -> None:
        conn.closing = True
        if not conn.out:
            self.drop(conn)

    def drop(self, conn: Connection) -> None:
        """Close ``conn`` now, whatever is still queued for it."""
        if conn.closed:
            return
        conn.closed = True
        self.sel.unregister(conn.sock)
        conn.sock.close()
        self.conns.pop(conn, None)
        if conn in self.attachers:
            self.attachers.remove(conn)
        self.on_drained()

    def close_all(self, deadline: float) -> None:
        """Give every client until ``deadline`` (monotonic) to receive its queue; close all."""
        for conn in list(self.conns):
            if conn.out and not conn.closed:
                try:
                    conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    conn.sock.sendall(conn.out)
                except OSError:
                    pass
            if not conn.closed:
                conn.closed = True
                conn.sock.close()

"""What a session holder does with its clients' frames: the HELLO modes and what follows them.

The first frame of a connection is HELLO and names the mode (see ``wire``): ``attach`` joins
the live view and may then send INPUT, RESIZE and DETACH; ``peek``, ``send`` and ``info`` get
one INFO reply and the connection closes. The holder's side of it (screen, PTY input, timers)
is reached through the ``HolderState`` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from wzp_supervisor.session import wire
from wzp_supervisor.session.connections import Connection, Connections
from wzp_supervisor.session.screen import ScreenModel


class HolderState(Protocol):
    """What request handling needs from the holder."""

    screen: ScreenModel
    cols: int
    rows: int
    clients: Connections

    def set_size(self, cols: int, rows: int) -> None: ...

    def queue_input(self, data: bytes) -> None: ...

    def after_input(self, callback: Callable[[], None]) -> None: ...

    def add_timer(self, delay: float, callback: Callable[[], None]) -> object: ...

    def info(self) -> dict[str, Any]: ...


class Requests:
    """Dispatches each client frame by the connection's mode."""

    def __init__(self, holder: HolderState) -> None:
        self.holder = holder

    def dispatch(self, conn: Connection, kind: wire.Frame, payload: bytes) -> None:
        """Handle one frame of ``conn``; raises WireError/ValueError/TypeError to refuse it."""
        if conn.mode is None:
            if kind != wire.Frame.HELLO:
                raise wire.WireError("the first frame must be HELLO")
            self.hello(conn, wire.decode_json(payload))
        elif conn.mode == "attach":
            if kind == wire.Frame.INPUT:
                self.take_size(conn)
                self.holder.queue_input(payload)
            elif kind == wire.Frame.RESIZE:
                conn.cols, conn.rows = wire.decode_size(payload)
                self.take_size(conn)
            elif kind == wire.Frame.DETACH:
                self.holder.clients.drop(conn)

    def hello(self, conn: Connection, hello: dict[str, Any]) -> None:
        holder = self.holder
        clients = holder.clients
        mode = hello.get("mode")
        if mode == "attach":
            conn.mode = "attach"
            conn.cols, conn.rows = int(hello.get("cols", 0)), int(hello.get("rows", 0))
            self.take_size(conn)
            clients.attachers.append(conn)
            clients.send(conn, wire.encode(wire.Frame.REDRAW, holder.screen.redraw()))
        elif mode == "peek":
            conn.mode = "peek"
            lines = hello.get("lines")
            screen = holder.screen
            x, y = screen.cursor()
            clients.reply(
                conn,
                {
                    "lines": screen.lines(None if lines is None else int(lines)),
                    "cols": holder.cols,
                    "rows": holder.rows,
                    "cursor": [x, y],
                    "bracketed_paste": screen.modes.bracketed_paste,
                    "alt_screen": screen.modes.alt_screen,
                },
            )
        elif mode == "send":
            conn.mode = "send"
            self.send_text(
                conn,
                str(hello["text"]),
                bool(hello.get("enter", False)),
                float(hello.get("enter_delay", 0.1)),
            )
        elif mode == "info":
            conn.mode = "info"
            clients.reply(conn, holder.info())
        else:
            raise wire.WireError(f"unknown mode {mode!r}")

    def send_text(self, conn: Connection, text: str, enter: bool, enter_delay: float) -> None:
        """Type ``text`` (bracketed when the program asked for it), then Enter if asked."""
        holder = self.holder
        bracketed = holder.screen.modes.bracketed_paste
        data = text.encode()
        if bracketed and data:
            data = b"\x1b[200~" + data + b"\x1b[201~"
        result = {"ok": True, "bracketed_paste": bracketed, "bytes": len(data)}

        def done() -> None:
            if not conn.closed:
                holder.clients.reply(conn, result)

        def press_enter() -> None:
            holder.queue_input(b"\r")
            holder.after_input(done)

        holder.queue_input(data)
        if not enter:
            holder.after_input(done)
        elif not data:
            press_enter()
        else:

            def pause_then_enter() -> None:
                holder.add_timer(enter_delay, press_enter)

            holder.after_input(pause_then_enter)

    def take_size(self, conn: Connection) -> None:
        """The PTY takes the size of the attacher that last typed or resized."""
        if conn.cols > 0 and conn.rows > 0:
            self.holder.set_size(conn.cols, conn.rows)

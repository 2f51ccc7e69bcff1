"""What a session holder does with its clients' frames: the HELLO modes and what follows them.

The first frame of a connection is HELLO and names the mode (see ``wire``): ``attach`` joins
the live view and may then send INPUT, RESIZE and DETACH; ``peek``, ``send`` and ``info`` get
one INFO reply and the connection closes. The holder's side of it (screen, PTY input, timers)
is reached through the ``HolderState`` protocol.

``send`` pastes text (bracketed when the program asked for it, stripped of every escape and
control sequence first, so a paste can never end early and type keys); ``raw: true`` types
the text as key presses instead, unchanged. Unless ``force: true``, a send is refused while a
permission dialog is on the screen: Enter (or a digit) there would answer it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from wzp_supervisor.session import dialog, paste, wire
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

    def check_input_room(self, size: int) -> None: ...

    def after_input(self, callback: Callable[[], None]) -> None: ...

    def add_timer(self, delay: float, callback: Callable[[], None]) -> object: ...

    def info(self) -> dict[str, Any]: ...


MAX_ENTER_DELAY = 10.0
_REQUEST_MODES = ("attach", "peek", "send", "info")


class RequestError(wire.WireError):
    """A frame or field a holder refuses (the client gets an ERROR frame)."""


def _int(obj: dict[str, Any], key: str, low: int, high: int, default: int | None) -> int | None:
    value = obj.get(key, default)
    if value is None and default is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise RequestError(f"{key} must be an integer from {low} to {high}, not {value!r}")
    return value


def _bool(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if type(value) is not bool:
        raise RequestError(f"{key} must be true or false, not {value!r}")
    return value


def _delay(obj: dict[str, Any], key: str, default: float) -> float:
    value = obj.get(key, default)
    if type(value) not in (int, float) or not 0 <= value <= MAX_ENTER_DELAY:
        raise RequestError(f"{key} must be a number of seconds from 0 to {MAX_ENTER_DELAY:g}")
    return float(value)


def _size(cols: int, rows: int) -> tuple[int, int]:
    if not 1 <= cols <= wire.MAX_COLS:
        raise RequestError(f"RESIZE cols must be from 1 to {wire.MAX_COLS}, not {cols}")
    if not 1 <= rows <= wire.MAX_ROWS:
        raise RequestError(f"RESIZE rows must be from 1 to {wire.MAX_ROWS}, not {rows}")
    return cols, rows


class Requests:
    """Dispatches each client frame by the connection's mode, validating every field."""

    def __init__(self, holder: HolderState) -> None:
        self.holder = holder

    def dispatch(self, conn: Connection, kind: wire.Frame, payload: bytes) -> None:
        """Handle one frame of ``conn``; raises WireError (RequestError) to refuse it."""
        if conn.mode is None:
            if kind != wire.Frame.HELLO:
                raise RequestError("the first frame must be HELLO")
            self.hello(conn, wire.decode_json(payload))
        elif conn.mode == "attach" and kind == wire.Frame.INPUT:
            self.holder.check_input_room(len(payload))
            self.take_size(conn)
            self.holder.queue_input(payload)
        elif conn.mode == "attach" and kind == wire.Frame.RESIZE:
            conn.cols, conn.rows = _size(*wire.decode_size(payload))
            self.take_size(conn)
        elif conn.mode == "attach" and kind == wire.Frame.DETACH and not payload:
            self.holder.clients.drop(conn)
        else:
            raise RequestError(f"unexpected {kind.name} frame in {conn.mode} mode")

    def hello(self, conn: Connection, hello: dict[str, Any]) -> None:
        holder = self.holder
        clients = holder.clients
        mode = hello.get("mode")
        if mode not in _REQUEST_MODES:
            raise RequestError(f"unknown mode {mode!r} (want one of {', '.join(_REQUEST_MODES)})")
        if mode == "attach":
            cols = _int(hello, "cols", 0, wire.MAX_COLS, 0) or 0
            rows = _int(hello, "rows", 0, wire.MAX_ROWS, 0) or 0
            clients.attach(conn)
            conn.cols, conn.rows = cols, rows
            self.take_size(conn)
            clients.send(conn, wire.encode(wire.Frame.REDRAW, holder.screen.redraw()))
        elif mode == "peek":
            lines = _int(hello, "lines", 0, wire.MAX_PEEK_LINES, None)
            conn.mode = "peek"
            screen = holder.screen
            x, y = screen.cursor()
            clients.reply(
                conn,
                {
                    "lines": screen.lines(lines),
                    "cols": holder.cols,
                    "rows": holder.rows,
                    "cursor": [x, y],
                    "bracketed_paste": screen.modes.bracketed_paste,
                    "alt_screen": screen.modes.alt_screen,
                },
            )
        elif mode == "send":
            text = hello.get("text")
            if not isinstance(text, str):
                raise RequestError(f"send needs text (a string), not {text!r}")
            enter = _bool(hello, "enter")
            delay = _delay(hello, "enter_delay", 0.1)
            raw = _bool(hello, "raw")
            if not _bool(hello, "force"):
                self.refuse_at_dialog()
            bracketed = holder.screen.modes.bracketed_paste and not raw
            try:
                data = (paste.clean(text) if bracketed else text).encode()
            except UnicodeEncodeError as exc:
                raise RequestError(f"text is not valid Unicode: {exc.reason}") from None
            conn.mode = "send"
            self.send_text(conn, data, enter, delay, bracketed)
        else:
            conn.mode = "info"
            clients.reply(conn, holder.info())

    def refuse_at_dialog(self) -> None:
        """Raise RequestError while a permission dialog is on the screen."""
        found = dialog.find(self.holder.screen.lines())
        if found is not None and found.is_permission:
            question = f" ({found.question})" if found.question else ""
            raise RequestError(
                f"a permission dialog is on the screen{question}: answer it by its label "
                "(wzp answer TARGET yes|no|always|TEXT), or force the keys through"
            )

    def send_text(
        self, conn: Connection, data: bytes, enter: bool, enter_delay: float, bracketed: bool
    ) -> None:
        """Type ``data`` (as one bracketed paste when ``bracketed``), then Enter if asked."""
        holder = self.holder
        if bracketed and data:
            data = b"\x1b[200~" + data + b"\x1b[201~"
        holder.check_input_room(len(data) + enter)
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

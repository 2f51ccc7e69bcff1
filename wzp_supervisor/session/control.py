"""A small synchronous API to a session holder: ``send_text``, ``peek``, ``info``.

Used by ``wzp send``/``wzp peek`` and by the daemon (task injection, screen fallback for
status). Each call is one short connection; nothing here imports more than the standard
library and ``wire``.

Before a byte is sent, ``connect`` checks that the socket's directory and the runtime dir
above it are ours, 0700 and not symlinks, and that the process serving the socket runs as
our uid; otherwise it raises ``SessionRefused`` (another user may be impersonating a holder).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wzp_supervisor import paths
from wzp_supervisor.peercred import PeerMismatch, require_own_peer
from wzp_supervisor.session import wire

DEFAULT_TIMEOUT = 10.0
DEFAULT_ENTER_DELAY = 0.1


class SessionError(Exception):
    """A request to a session holder failed."""


class SessionNotFound(SessionError):
    """No holder socket exists at the path (the session is not running)."""


class SessionStale(SessionError):
    """The socket exists but nothing listens on it (its holder died)."""


class SessionRefused(SessionError):
    """The socket's directory or its server is not ours; nothing was sent."""


def check_socket_dirs(path: Path) -> None:
    """Raise SessionRefused unless the socket's dir and the dir above it are private to us
    (owner us, 0700, no symlink) and the one above that cannot be swapped by others."""
    try:
        paths.check_private_dir(path.parent)
        paths.check_private_dir(path.parent.parent)
        paths.check_parent_dir(path.parent.parent.parent)
    except paths.RuntimeDirError as exc:
        raise SessionRefused(f"refusing to use {path}: {exc}") from None


@dataclass(frozen=True)
class ScreenSnapshot:
    """The screen of a session as text, from ``peek``."""

    lines: list[str]
    cols: int
    rows: int
    cursor: tuple[int, int]
    bracketed_paste: bool
    alt_screen: bool

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``wzp peek --json``)."""
        return {
            "lines": self.lines,
            "cols": self.cols,
            "rows": self.rows,
            "cursor": list(self.cursor),
            "bracketed_paste": self.bracketed_paste,
            "alt_screen": self.alt_screen,
        }


def connect(path: Path, timeout: float | None = DEFAULT_TIMEOUT) -> socket.socket:
    """A connected socket to the holder at ``path``, checked to be ours (SessionRefused), or
    SessionNotFound / SessionStale."""
    check_socket_dirs(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except FileNotFoundError:
        sock.close()
        raise SessionNotFound(f"no session holder at {path}") from None
    except ConnectionRefusedError:
        sock.close()
        raise SessionStale(f"stale socket {path}: its holder is not running") from None
    except OSError as exc:
        sock.close()
        raise SessionError(f"cannot connect to {path}: {exc.strerror or exc}") from None
    try:
        require_own_peer(sock, str(path))
    except (PeerMismatch, OSError) as exc:
        sock.close()
        raise SessionRefused(str(exc)) from None
    return sock


def request(path: Path, hello: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Send one HELLO and return the holder's INFO reply."""
    with connect(path, timeout) as sock:
        try:
            sock.sendall(wire.encode_json(wire.Frame.HELLO, hello))
            frame = wire.read_frame(sock, wire.Decoder(), [])
        except TimeoutError:
            raise SessionError(f"no reply from {path} within {timeout:g} s") from None
        except (OSError, wire.WireError) as exc:
            raise SessionError(f"connection to {path} failed: {exc}") from None
    if frame is None:
        raise SessionError(f"the holder at {path} closed the connection without a reply")
    kind, payload = frame
    body = wire.decode_json(payload)
    if kind == wire.Frame.ERROR:
        raise SessionError(str(body.get("message", "request refused")))
    if kind != wire.Frame.INFO:
        raise SessionError(f"unexpected {kind.name} frame from {path}")
    return body


def send_text(
    path: Path,
    text: str,
    enter: bool = False,
    *,
    enter_delay: float = DEFAULT_ENTER_DELAY,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    raw: bool = False,
) -> dict[str, Any]:
    """Type ``text`` into the session, then Enter if asked; return once it is all written.

    The text is wrapped in bracketed paste when the program has enabled it, so multi-line text
    arrives as one paste; escape and control sequences are stripped from a paste first.
    ``raw`` types ``text`` as key presses instead (no paste, nothing stripped). Enter goes
    ``enter_delay`` seconds after the text, as a separate key press, so programs that detect
    pastes by timing still see a real Enter. The holder refuses (SessionError) while a
    permission dialog is on the screen unless ``force``. The reply says
    ``{"ok": true, "bracketed_paste": bool, "bytes": n}``.
    """
    hello: dict[str, Any] = {
        "mode": "send",
        "text": text,
        "enter": enter,
        "enter_delay": enter_delay,
    }
    if force:
        hello["force"] = True
    if raw:
        hello["raw"] = True
    return request(path, hello, timeout)


def peek(
    path: Path, lines: int | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> ScreenSnapshot:
    """The session's current screen as text (``lines``: only the last N non-blank lines)."""
    hello: dict[str, Any] = {"mode": "peek"}
    if lines is not None:
        hello["lines"] = max(0, min(lines, wire.MAX_PEEK_LINES))
    body = request(path, hello, timeout)
    cursor = body.get("cursor", [0, 0])
    return ScreenSnapshot(
        lines=[str(line) for line in body.get("lines", [])],
        cols=int(body.get("cols", 0)),
        rows=int(body.get("rows", 0)),
        cursor=(int(cursor[0]), int(cursor[1])),
        bracketed_paste=bool(body.get("bracketed_paste", False)),
        alt_screen=bool(body.get("alt_screen", False)),
    )


def info(path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The holder's description (protocol, target, pid, agent_pid, agent_create_time,
    agent_started_at, session_id, last_exit, cols, rows, attachers, ...; see ``holder``)."""
    return request(path, {"mode": "info"}, timeout)

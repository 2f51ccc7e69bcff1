"""The attach client: this terminal becomes a view of a session and its keyboard.

The local tty goes to raw mode; keys go to the holder, output comes back; SIGWINCH sends the
new size. The detach key (default ctrl+], configurable with ``--detach-key`` or
``WZP_DETACH_KEY``) leaves the program running. When the program exits the client shows one
line and reconnects by itself once the holder's socket is back (the supervisor restarts it).
While attached, the terminal's ``wzp_target`` user var (OSC 1337 SetUserVar) holds the
target, for WezTerm's ``pane:get_user_vars()``; it is cleared when the client ends.

The line shown while waiting comes from a ``WaitingLine`` callback, called at the exit and
then about once a second; the default says "agent-1 exited (code 1); waiting for restart…".
A caller that knows more (the daemon's restart schedule, through the hub) passes its own to
say "restarting in 2 s (attempt 2)".
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import signal
import socket
import termios
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from wzp_supervisor.session import wire
from wzp_supervisor.session.control import SessionError, SessionRefused, connect
from wzp_supervisor.session.terminal_modes import ModeTracker

DEFAULT_DETACH_KEY = "ctrl+]"
TARGET_VAR = "wzp_target"  # the user var naming the attached ws/pane
RETRY_INTERVAL = 0.2
LINE_REFRESH = 1.0


@dataclass(frozen=True)
class ExitStatus:
    """How the program in a session ended."""

    code: int | None
    signal: int | None

    def describe(self) -> str:
        """``code 1`` or ``signal 9 (SIGKILL)``."""
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                return f"signal {self.signal}"
            return f"signal {self.signal} ({name})"
        return f"code {self.code}"


WaitingLine = Callable[[str, ExitStatus | None], str]


def default_waiting_line(target: str, status: ExitStatus | None) -> str:
    """The line shown while the session is down; ``status`` None: the holder vanished."""
    pane = target.rsplit("/", 1)[-1]
    if status is None:
        return f"{pane}: lost the session holder; waiting for it to come back…"
    return f"{pane} exited ({status.describe()}); waiting for restart…"


def parse_detach_key(spec: str) -> int | None:
    """The byte of a detach key spec: ``ctrl+]``, ``C-]``, ``^]``, ``0x1d`` or ``none``."""
    text = spec.strip()
    lowered = text.lower()
    if lowered in ("", "none", "off"):
        return None
    if lowered.startswith("0x"):
        value = int(lowered, 16)
        if not 0 <= value < 256:
            raise ValueError(f"detach key {spec!r} is not a single byte")
        return value
    for prefix in ("ctrl+", "ctrl-", "c-", "^"):
        if lowered.startswith(prefix) and len(text) == len(prefix) + 1:
            char = text[-1].upper()
            if char == "?":
                return 0x7F
            if "@" <= char <= "_":
                return ord(char) ^ 0x40
    if len(text) == 1:
        return ord(text)
    raise ValueError(f"cannot understand detach key {spec!r} (try ctrl+] or ^q)")


def detach_sequences(key: int) -> tuple[bytes, ...]:
    """What the terminal may send for the detach key: the byte, and for a control key its
    kitty-keyboard (CSI u) and xterm modifyOtherKeys forms."""
    sequences = [bytes([key])]
    if key < 0x20:
        codepoint = ord(chr(key ^ 0x40).lower())
        sequences += [b"\x1b[%d;5u" % codepoint, b"\x1b[27;5;%d~" % codepoint]
    return tuple(sequences)


def user_var(name: str, value: str | None) -> bytes:
    """OSC 1337 SetUserVar: WezTerm shows it to Lua as ``pane:get_user_vars()[name]``;
    ``value`` None clears it."""
    encoded = base64.b64encode(value.encode()) if value is not None else b""
    return b"\x1b]1337;SetUserVar=" + name.encode() + b"=" + encoded + b"\x07"


class _Quit(Exception):
    """The local terminal went away or we were told to stop."""


class _Detached(Exception):
    """The user pressed the detach key."""


class AttachClient:
    """One ``wzp attach`` session on the local terminal."""

    def __init__(
        self,
        socket_path: Path,
        target: str,
        *,
        detach_key: int | None = 0x1D,
        waiting_line: WaitingLine = default_waiting_line,
        wait: bool = False,
        stdin_fd: int = 0,
        stdout_fd: int = 1,
    ) -> None:
        self.socket_path = socket_path
        self.target = target
        self.detach = detach_sequences(detach_key) if detach_key is not None else ()
        self.waiting_line = waiting_line
        self.wait = wait
        self.stdin = stdin_fd
        self.stdout = stdout_fd
        self.modes = ModeTracker()
        self._wake_r = -1

    def run(self) -> int:
        """Attach until detached or the terminal goes away; 0, or raise SessionError if the
        session is not there at the start (unless ``wait``)."""
        sock = None if self.wait else connect(self.socket_path, None)
        with self._signals(), self._raw():
            detached = False
            try:
                self._write(user_var(TARGET_VAR, self.target))
                if sock is None:
                    sock = self._wait_for_holder(None)
                while True:
                    status = self._session(sock)
                    sock.close()
                    self._write(self.modes.reset_sequence())
                    self.modes = ModeTracker()
                    sock = self._wait_for_holder(status)
            except _Detached:
                detached = True
            except _Quit:
                pass
            finally:
                if sock is not None:
                    sock.close()
                self._leave(detached)
        return 0

    def _leave(self, detached: bool) -> None:
        """Give the terminal back: modes reset (alternate screen left, cursor shown), the
        cursor below the view, the target user var cleared, then the detached line."""
        with contextlib.suppress(_Quit):
            self._write(self.modes.reset_sequence())
            if detached:
                self._write(b"\x1b[%d;1H" % self._rows())
            self._write(user_var(TARGET_VAR, None))
            if detached:
                self._write(f"\r\n[detached from {self.target}]\r\n".encode())

    # -- terminal ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _raw(self) -> Iterator[None]:
        saved = None
        if os.isatty(self.stdin):
            saved = termios.tcgetattr(self.stdin)
            tty.setraw(self.stdin, termios.TCSANOW)
        try:
            yield
        finally:
            if saved is not None:
                with contextlib.suppress(termios.error):
                    termios.tcsetattr(self.stdin, termios.TCSADRAIN, saved)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._wake_r = wake_r
        handled = (signal.SIGWINCH, signal.SIGTERM, signal.SIGHUP)
        old_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        old = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(old_fd)
            os.close(wake_r)
            os.close(wake_w)

    def _size(self) -> tuple[int, int]:
        try:
            rows, cols = termios.tcgetwinsize(self.stdin)
        except (termios.error, OSError):
            return 80, 24
        return min(cols or 80, wire.MAX_COLS), min(rows or 24, wire.MAX_ROWS)

    def _rows(self) -> int:
        try:
            return termios.tcgetwinsize(self.stdin)[0] or 999
        except (termios.error, OSError):
            return 999

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.stdout, view) :]
            except BlockingIOError:
                select.select([], [self.stdout], [])
            except OSError as exc:
                raise _Quit from exc

    def _signals_pending(self) -> bool:
        """Drain the wakeup pipe; True if the window changed size. Raises _Quit on TERM/HUP."""
        try:
            data = os.read(self._wake_r, 512)
        except BlockingIOError:
            return False
        if signal.SIGTERM in data or signal.SIGHUP in data:
            raise _Quit
        return signal.SIGWINCH in data

    def _read_keys(self) -> bytes:
        try:
            data = os.read(self.stdin, 65536)
        except OSError as exc:
            raise _Quit from exc
        if not data:
            raise _Quit
        return data

    def _split_detach(self, data: bytes) -> tuple[bytes, bool]:
        cut = min((i for i in (data.find(seq) for seq in self.detach) if i >= 0), default=-1)
        return (data, False) if cut < 0 else (data[:cut], True)

    # -- connected ---------------------------------------------------------------------------

    def _session(self, sock: socket.socket) -> ExitStatus | None:
        """Serve one connection; the program's ExitStatus, or None if the holder went away."""
        cols, rows = self._size()
        sock.settimeout(None)
        sock.sendall(
            wire.encode_json(wire.Frame.HELLO, {"mode": "attach", "cols": cols, "rows": rows})
        )
        decoder = wire.Decoder()
        while True:
            ready, _, _ = select.select([sock.fileno(), self.stdin, self._wake_r], [], [])
            if self._wake_r in ready and self._signals_pending():
                cols, rows = self._size()
                self._send(sock, wire.encode_size(cols, rows))
            if self.stdin in ready:
                keys, detach = self._split_detach(self._read_keys())
                if keys:
                    self._send(sock, wire.encode(wire.Frame.INPUT, keys))
                if detach:
                    self._send(sock, wire.encode(wire.Frame.DETACH))
                    raise _Detached
            if sock.fileno() in ready:
                try:
                    data = sock.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    return None
                try:
                    frames = decoder.feed(data)
                except wire.WireError:
                    return None
                for kind, payload in frames:
                    if kind in (wire.Frame.OUTPUT, wire.Frame.REDRAW):
                        self.modes.scan(payload)
                        self._write(payload)
                    elif kind == wire.Frame.EXIT:
                        body = wire.decode_json(payload)
                        return ExitStatus(body.get("code"), body.get("signal"))
                    elif kind == wire.Frame.ERROR:
                        message = wire.decode_json(payload).get("message", "refused")
                        raise SessionError(str(message))

    @staticmethod
    def _send(sock: socket.socket, frame: bytes) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(frame)

    # -- waiting for a restart ---------------------------------------------------------------

    def _wait_for_holder(self, status: ExitStatus | None) -> socket.socket:
        """Show the waiting line and reconnect as soon as the holder listens again."""
        shown = ""
        next_line = 0.0
        while True:
            now = time.monotonic()
            if now >= next_line:
                line = self.waiting_line(self.target, status)
                if line != shown:
                    self._write(b"\r\x1b[K" if shown else b"\r\n")
                    self._write(line.encode())
                    shown = line
                next_line = now + LINE_REFRESH
            try:
                return connect(self.socket_path, None)
            except SessionRefused:
                raise
            except SessionError:
                pass
            ready, _, _ = select.select([self.stdin, self._wake_r], [], [], RETRY_INTERVAL)
            if self._wake_r in ready:
                self._signals_pending()
            if self.stdin in ready and self._split_detach(self._read_keys())[1]:
                raise _Detached


def attach(
    socket_path: Path,
    target: str,
    *,
    detach_key: int | None = 0x1D,
    waiting_line: WaitingLine = default_waiting_line,
    wait: bool = False,
) -> int:
    """Attach this process's terminal to a session; return the exit code for ``wzp attach``."""
    client = AttachClient(
        socket_path, target, detach_key=detach_key, waiting_line=waiting_line, wait=wait
    )
    return client.run()

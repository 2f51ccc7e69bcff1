"""The session holder: one PTY, one program, any number of clients on a Unix socket.

Run by the supervisor (once per interactive pane) as::

    python -m wzp_supervisor.session.holder --target WS/PANE --socket PATH --log PATH
        [--log-max-bytes 10485760] [--log-backups 3] [--cols 120] [--rows 40]
        [--agent claude --session-file PATH] [--rlimit nofile=N] [--cwd DIR] -- ARGV...

It starts ARGV in a new PTY (session leader, controlling tty, process-group leader), writes
everything it prints to the rotated log and the screen model, and serves the clients of
``wire``: attachers get a redraw of the current screen and then the live output; ``peek``,
``send`` and ``info`` get one reply. The PTY takes the size of the attacher that last typed or
resized. SIGTERM, SIGHUP and SIGINT are forwarded as SIGTERM to the program's process group.
When the program exits, attachers get an EXIT frame, the socket is removed and the holder
exits with the program's status (re-raising its terminating signal).

One thread, one ``selectors`` loop, no periodic timers: an idle holder uses no CPU. It imports
neither circus, zmq, click nor rich, and pyte only once a screen is needed.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from wzp_supervisor.session import wire
from wzp_supervisor.session.logfile import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, RotatingLog
from wzp_supervisor.session.process import (
    FORWARDED,
    RLIMITS,
    StartError,
    exit_like,
    ignore_signal,
    listen,
    peer_is_us,
    set_winsize,
    spawn,
)
from wzp_supervisor.session.screen import ScreenModel

READ_CHUNK = 65536
COALESCE = 256 * 1024  # output gathered per loop turn before it is forwarded
HIGH_WATER = 1024 * 1024  # an attacher this far behind pauses reading from the program
LOW_WATER = 256 * 1024  # reading resumes when every attacher is below this
STALL_GRACE = 5.0  # an attacher still behind after this long is disconnected
SETTLE_DELAY = 0.03  # quiet time after which buffered output is fed to the screen model
EXIT_DRAIN = 0.5  # after the program exits, how long to wait for the rest of its output
FLUSH_DEADLINE = 2.0  # time given to clients to receive the last output and EXIT
SOCKET_BUFFER = 1024 * 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class Options(NamedTuple):
    """Parsed command line of the holder."""

    target: str
    socket: Path
    log: Path
    argv: list[str]
    rlimits: dict[str, int]
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_backups: int = DEFAULT_BACKUPS
    cols: int = 120
    rows: int = 40
    agent: str | None = None
    session_file: Path | None = None
    cwd: Path | None = None


def parse_args(args: Sequence[str]) -> Options:
    """Parse the holder's command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="wzp-holder", description="Hold a program in a PTY.")
    parser.add_argument("--target", required=True)
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--log-max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    parser.add_argument("--log-backups", type=int, default=DEFAULT_BACKUPS)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--agent", choices=("claude", "none"), default=None)
    parser.add_argument("--session-file", type=Path, default=None)
    parser.add_argument("--rlimit", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--cwd", type=Path, default=None)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(list(args))
    argv = list(ns.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        parser.error("no program given (put it after --)")
    if not (0 < ns.cols < 65536 and 0 < ns.rows < 65536):
        parser.error("--cols/--rows out of range")
    if ns.agent == "claude" and ns.session_file is None:
        parser.error("--agent claude needs --session-file")
    rlimits: dict[str, int] = {}
    for item in ns.rlimit:
        name, _, value = item.partition("=")
        if name not in RLIMITS or not value.isdigit():
            parser.error(f"bad --rlimit {item!r} (want nofile|nproc|as=INTEGER)")
        rlimits[name] = int(value)
    return Options(
        target=ns.target,
        socket=ns.socket,
        log=ns.log,
        argv=argv,
        log_max_bytes=ns.log_max_bytes,
        log_backups=ns.log_backups,
        cols=ns.cols,
        rows=ns.rows,
        agent=None if ns.agent == "none" else ns.agent,
        session_file=ns.session_file,
        cwd=ns.cwd,
        rlimits=rlimits,
    )


class _Conn:
    """One client connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = wire.Decoder()
        self.out = bytearray()
        self.mode: str | None = None
        self.cols = 0
        self.rows = 0
        self.closing = False
        self.closed = False


class _Timer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False


class Holder:
    """The holder's state and event loop."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.cols, self.rows = opts.cols, opts.rows
        self.log = RotatingLog(opts.log, opts.log_max_bytes, opts.log_backups)
        self.screen = ScreenModel(opts.cols, opts.rows)
        self.sel = selectors.DefaultSelector()
        self.conns: set[_Conn] = set()
        self.attachers: list[_Conn] = []
        self.pid = 0
        self.master = -1
        self.master_mask = 0
        self.master_eof = False
        self.status: int | None = None
        self.done = False
        self.paused = False
        self.stall_timer: _Timer | None = None
        self.pty_in = bytearray()
        self.drain_waiters: list[Callable[[], None]] = []
        self.timers: list[tuple[float, int, _Timer]] = []
        self.seq = itertools.count()
        self.started = time.time()
        self.listener: socket.socket | None = None
        self.sock_ino = 0

    # -- set-up ------------------------------------------------------------------------------

    def note(self, line: str) -> None:
        """Show a line of the holder's own in the pane and the log."""
        self.output((line.rstrip("\n") + "\r\n").encode())

    def start(self) -> None:
        """Listen, install signal handling and start the program."""
        self.listener = listen(self.opts.socket)
        self.sock_ino = os.stat(self.opts.socket).st_ino
        self.sel.register(self.listener, _READ, self.on_accept)
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self._wake = (wake_r, wake_w)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, *FORWARDED):
            signal.signal(sig, ignore_signal)
        self.sel.register(wake_r, _READ, self.on_signal)
        argv = list(self.opts.argv)
        cwd = self.opts.cwd or Path.cwd()
        if self.opts.agent == "claude" and self.opts.session_file is not None:
            from wzp_supervisor.agents import claude

            try:
                argv = claude.launch_argv(argv, self.opts.session_file, cwd, self.note)
            except Exception as exc:
                raise StartError(f"cannot build the claude command line: {exc}") from exc
        env = dict(os.environ)
        env.setdefault("TERM", "xterm-256color")
        self.pid, self.master = spawn(
            argv, self.opts.cwd, env, self.opts.rlimits, self.cols, self.rows
        )
        self.update_master()

    # -- loop --------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until the program has exited; return its wait status."""
        while not self.done:
            timeout = self.next_timeout()
            events = self.sel.select(timeout)
            if not events and self.screen.pending:
                self.screen.settle()
            for key, mask in events:
                key.data(mask)
            self.run_timers()
        return self.shutdown()

    def add_timer(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(callback)
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.seq), timer))
        return timer

    def next_timeout(self) -> float | None:
        while self.timers and self.timers[0][2].cancelled:
            heapq.heappop(self.timers)
        timeout = None
        if self.timers:
            timeout = max(0.0, self.timers[0][0] - time.monotonic())
        if self.screen.pending:
            timeout = SETTLE_DELAY if timeout is None else min(timeout, SETTLE_DELAY)
        return timeout

    def run_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, timer = heapq.heappop(self.timers)
            if not timer.cancelled:
                timer.callback()

    # -- the program's side ------------------------------------------------------------------

    def update_master(self) -> None:
        """Register the PTY master for what is wanted now: reading unless paused, writing."""
        mask = 0
        if not self.master_eof:
            if not self.paused or self.status is not None:
                mask |= _READ
            if self.pty_in:
                mask |= _WRITE
        if mask == self.master_mask:
            return
        if self.master_mask and mask:
            self.sel.modify(self.master, mask, self.on_master)
        elif mask:
            self.sel.register(self.master, mask, self.on_master)
        else:
            self.sel.unregister(self.master)
        self.master_mask = mask

    def on_master(self, mask: int) -> None:
        if mask & _READ:
            self.read_master()
        if mask & _WRITE and not self.master_eof:
            self.write_master()

    def read_master(self) -> None:
        chunks = []
        total = 0
        while total < COALESCE:
            try:
                data = os.read(self.master, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:  # EIO: no process has the terminal open any more
                data = b""
            if not data:
                self.master_eof = True
                break
            chunks.append(data)
            total += len(data)
        if chunks:
            self.output(b"".join(chunks))
        if self.master_eof:
            self.pty_in.clear()
            self.update_master()
            if self.status is not None:
                self.done = True

    def output(self, data: bytes) -> None:
        """Program output (or a note): to the log, the screen and every attacher."""
        self.log.write(data)
        self.screen.feed(data)
        if not self.attachers:
            return
        frame = wire.encode(wire.Frame.OUTPUT, data)
        for conn in list(self.attachers):
            self.send(conn, frame)
        if not self.paused and any(len(c.out) > HIGH_WATER for c in self.attachers):
            self.paused = True
            self.stall_timer = self.add_timer(STALL_GRACE, self.on_stall)
            self.update_master()

    def on_stall(self) -> None:
        """Attachers that stayed behind for STALL_GRACE are dropped (they will reconnect)."""
        for conn in list(self.attachers):
            if len(conn.out) > LOW_WATER:
                self.drop(conn)
        self.maybe_resume()

    def maybe_resume(self) -> None:
        if self.paused and all(len(c.out) <= LOW_WATER for c in self.attachers):
            self.paused = False
            if self.stall_timer is not None:
                self.stall_timer.cancelled = True
                self.stall_timer = None
            self.update_master()

    def queue_input(self, data: bytes) -> None:
        if self.master_eof or not data:
            return
        self.pty_in += data
        self.write_master()

    def write_master(self) -> None:
        if self.pty_in:
            try:
                written = os.write(self.master, self.pty_in)
            except BlockingIOError:
                written = 0
            except OSError:
                written = len(self.pty_in)
            del self.pty_in[:written]
        if not self.pty_in:
            waiters, self.drain_waiters = self.drain_waiters, []
            for waiter in waiters:
                waiter()
        self.update_master()

    def after_input(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once all queued input has been written to the program."""
        if self.pty_in:
            self.drain_waiters.append(callback)
        else:
            callback()

    def set_size(self, cols: int, rows: int) -> None:
        if (cols, rows) == (self.cols, self.rows):
            return
        self.cols, self.rows = cols, rows
        self.screen.resize(cols, rows)
        if not self.master_eof:
            with contextlib.suppress(OSError):
                set_winsize(self.master, cols, rows)

    # -- signals -----------------------------------------------------------------------------

    def on_signal(self, _mask: int) -> None:
        try:
            data = self._wake[0].recv(4096)
        except BlockingIOError:
            return
        for signum in data:
            if signum == signal.SIGCHLD:
                self.reap()
            elif signum in FORWARDED:
                self.terminate_child()

    def terminate_child(self) -> None:
        if self.status is None and self.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGTERM)

    def reap(self) -> None:
        if self.status is not None or not self.pid:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        self.status = status
        if self.master_eof:
            self.done = True
        else:
            self.update_master()  # read the rest even while paused
            self.add_timer(EXIT_DRAIN, self.on_drain_timeout)

    def on_drain_timeout(self) -> None:
        self.done = True  # a background process still holds the terminal open

    # -- clients -----------------------------------------------------------------------------

    def on_accept(self, _mask: int) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            if not peer_is_us(sock):
                sock.close()
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            conn = _Conn(sock)
            self.conns.add(conn)
            self.sel.register(sock, _READ, lambda mask, conn=conn: self.on_conn(conn, mask))

    def on_conn(self, conn: _Conn, mask: int) -> None:
        if conn.closed:
            return
        if mask & _WRITE:
            self.flush(conn)
        if not mask & _READ or conn.closed:
            return
        try:
            data = conn.sock.recv(262144)
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
                self.dispatch(conn, kind, payload)
            except (wire.WireError, ValueError, TypeError) as exc:
                self.refuse(conn, str(exc))

    def dispatch(self, conn: _Conn, kind: wire.Frame, payload: bytes) -> None:
        if conn.mode is None:
            if kind != wire.Frame.HELLO:
                raise wire.WireError("the first frame must be HELLO")
            self.hello(conn, wire.decode_json(payload))
        elif conn.mode == "attach":
            if kind == wire.Frame.INPUT:
                self.take_size(conn)
                self.queue_input(payload)
            elif kind == wire.Frame.RESIZE:
                conn.cols, conn.rows = wire.decode_size(payload)
                self.take_size(conn)
            elif kind == wire.Frame.DETACH:
                self.drop(conn)

    def hello(self, conn: _Conn, hello: dict[str, Any]) -> None:
        mode = hello.get("mode")
        if mode == "attach":
            conn.mode = "attach"
            conn.cols, conn.rows = int(hello.get("cols", 0)), int(hello.get("rows", 0))
            self.take_size(conn)
            self.attachers.append(conn)
            self.send(conn, wire.encode(wire.Frame.REDRAW, self.screen.redraw()))
        elif mode == "peek":
            conn.mode = "peek"
            lines = hello.get("lines")
            x, y = self.screen.cursor()
            self.reply(
                conn,
                {
                    "lines": self.screen.lines(None if lines is None else int(lines)),
                    "cols": self.cols,
                    "rows": self.rows,
                    "cursor": [x, y],
                    "bracketed_paste": self.screen.modes.bracketed_paste,
                    "alt_screen": self.screen.modes.alt_screen,
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
            self.reply(conn, self.info())
        else:
            raise wire.WireError(f"unknown mode {mode!r}")

    def info(self) -> dict[str, Any]:
        """The holder's description, as the INFO reply of ``info``."""
        return {
            "target": self.opts.target,
            "pid": os.getpid(),
            "child_pid": self.pid,
            "cols": self.cols,
            "rows": self.rows,
            "attachers": len(self.attachers),
            "bracketed_paste": self.screen.modes.bracketed_paste,
            "started": self.started,
        }

    def send_text(self, conn: _Conn, text: str, enter: bool, enter_delay: float) -> None:
        bracketed = self.screen.modes.bracketed_paste
        data = text.encode()
        if bracketed and data:
            data = b"\x1b[200~" + data + b"\x1b[201~"
        result = {"ok": True, "bracketed_paste": bracketed, "bytes": len(data)}

        def done() -> None:
            if not conn.closed:
                self.reply(conn, result)

        def press_enter() -> None:
            self.queue_input(b"\r")
            self.after_input(done)

        self.queue_input(data)
        if not enter:
            self.after_input(done)
        elif not data:
            press_enter()
        else:

            def pause_then_enter() -> None:
                self.add_timer(enter_delay, press_enter)

            self.after_input(pause_then_enter)

    def take_size(self, conn: _Conn) -> None:
        if conn.cols > 0 and conn.rows > 0:
            self.set_size(conn.cols, conn.rows)

    def reply(self, conn: _Conn, obj: dict[str, Any]) -> None:
        self.send(conn, wire.encode_json(wire.Frame.INFO, obj))
        self.close_after_flush(conn)

    def refuse(self, conn: _Conn, message: str) -> None:
        self.send(conn, wire.encode_json(wire.Frame.ERROR, {"message": message}))
        self.close_after_flush(conn)

    def close_after_flush(self, conn: _Conn) -> None:
        conn.closing = True
        if not conn.out:
            self.drop(conn)

    def send(self, conn: _Conn, frame: bytes) -> None:
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

    def flush(self, conn: _Conn) -> None:
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
        self.maybe_resume()

    def drop(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.sel.unregister(conn.sock)
        conn.sock.close()
        self.conns.discard(conn)
        if conn in self.attachers:
            self.attachers.remove(conn)
        self.maybe_resume()

    # -- the end -----------------------------------------------------------------------------

    def shutdown(self) -> int:
        """Tell attachers, give them FLUSH_DEADLINE to receive it all, remove the socket."""
        assert self.status is not None
        status = self.status
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        frame = wire.encode_json(wire.Frame.EXIT, {"code": code, "signal": signum})
        for conn in list(self.attachers):
            self.send(conn, frame)
        self.remove_socket()
        deadline = time.monotonic() + FLUSH_DEADLINE
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
        self.log.close()
        return status

    def remove_socket(self) -> None:
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
        try:
            if os.stat(self.opts.socket).st_ino == self.sock_ino:
                os.unlink(self.opts.socket)
        except FileNotFoundError:
            pass


def main(args: Sequence[str] | None = None) -> NoReturn:
    """Entry point of ``python -m wzp_supervisor.session.holder``."""
    opts = parse_args(sys.argv[1:] if args is None else args)
    holder = Holder(opts)
    try:
        holder.start()
    except StartError as exc:
        message = f"wzp holder {opts.target}: {exc}"
        holder.note(message)
        print(message, file=sys.stderr)
        listening = holder.listener is not None  # so the program itself could not start
        if listening:
            holder.remove_socket()
        sys.exit(127 if listening else 1)
    exit_like(holder.run())


if __name__ == "__main__":
    main()

"""The session holder's event loop: one ``selectors`` loop over the PTY, the socket, signals.

``Holder`` starts the program on a PTY, listens on the holder socket and runs until the
program has exited: output goes to the log, the screen model and every attacher (reading
pauses while an attacher is far behind, and one that stays behind is dropped); input queued
by clients is written as the PTY takes it; SIGCHLD reaps the program and SIGTERM/HUP/INT are
forwarded to its process group. Clients are served by ``connections`` and their frames
handled by ``requests``. No periodic timers: an idle holder uses no CPU.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from wzp_supervisor.session import wire
from wzp_supervisor.session.agent import Agent
from wzp_supervisor.session.connections import Connections
from wzp_supervisor.session.holder_args import Options
from wzp_supervisor.session.logfile import RotatingLog
from wzp_supervisor.session.process import FORWARDED, ignore_signal, listen, set_winsize
from wzp_supervisor.session.progress import ProgressTracker
from wzp_supervisor.session.requests import RequestError, Requests
from wzp_supervisor.session.screen import ScreenModel

READ_CHUNK = 65536
COALESCE = 256 * 1024  # output gathered per loop turn before it is forwarded
HIGH_WATER = 1024 * 1024  # an attacher this far behind pauses reading from the program
LOW_WATER = 256 * 1024  # reading resumes when every attacher is below this
STALL_GRACE = 5.0  # an attacher still behind after this long is disconnected
SETTLE_DELAY = 0.03  # quiet time after which buffered output is fed to the screen model
EXIT_DRAIN = 0.5  # after the program exits, how long to wait for the rest of its output
FLUSH_DEADLINE = 2.0  # time given to clients to receive the last output and EXIT
MAX_PENDING_INPUT = 1024 * 1024  # input queued for a program that does not read it
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class Timer:
    """A one-shot callback of the loop; set ``cancelled`` to drop it."""

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
        self.progress = ProgressTracker()
        self.last_output: float | None = None
        self.agent = Agent(opts)
        self.sel = selectors.DefaultSelector()
        self.requests = Requests(self)
        self.clients = Connections(self.sel, self.requests.dispatch, self.maybe_resume)
        self.pid = 0
        self.master = -1
        self.master_mask = 0
        self.master_eof = False
        self.status: int | None = None
        self.done = False
        self.paused = False
        self.stall_timer: Timer | None = None
        self.pty_in = bytearray()
        self.drain_waiters: list[Callable[[], None]] = []
        self.timers: list[tuple[float, int, Timer]] = []
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
        listener = self.listener
        self.sel.register(listener, _READ, lambda _mask: self.clients.accept(listener))
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self._wake = (wake_r, wake_w)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, *FORWARDED):
            signal.signal(sig, ignore_signal)
        self.sel.register(wake_r, _READ, self.on_signal)
        self.agent.end_previous(self.note)
        self.master = self.agent.start(self.note, self.cols, self.rows)
        self.pid = self.agent.pid
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

    def add_timer(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` from the loop in ``delay`` seconds."""
        timer = Timer(callback)
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
        self.progress.scan(data)
        self.last_output = time.time()
        attachers = self.clients.attachers
        if not attachers:
            return
        frame = wire.encode(wire.Frame.OUTPUT, data)
        for conn in list(attachers):
            self.clients.send(conn, frame)
        if not self.paused and any(len(c.out) > HIGH_WATER for c in attachers):
            self.paused = True
            self.stall_timer = self.add_timer(STALL_GRACE, self.on_stall)
            self.update_master()

    def on_stall(self) -> None:
        """Attachers that stayed behind for STALL_GRACE are dropped (they will reconnect)."""
        for conn in list(self.clients.attachers):
            if len(conn.out) > LOW_WATER:
                self.clients.drop(conn)
        self.maybe_resume()

    def maybe_resume(self) -> None:
        """Resume reading from the program once every attacher has caught up."""
        if self.paused and all(len(c.out) <= LOW_WATER for c in self.clients.attachers):
            self.paused = False
            if self.stall_timer is not None:
                self.stall_timer.cancelled = True
                self.stall_timer = None
            self.update_master()

    def queue_input(self, data: bytes) -> None:
        """Bytes for the program's terminal, written as the PTY takes them."""
        if self.master_eof or not data:
            return
        self.pty_in += data
        self.write_master()

    def check_input_room(self, size: int) -> None:
        """Raise RequestError unless ``size`` more bytes of input fit in the queue."""
        if len(self.pty_in) + size > MAX_PENDING_INPUT:
            raise RequestError(
                f"the program is not reading its input ({len(self.pty_in)} bytes waiting; "
                f"at most {MAX_PENDING_INPUT} are kept)"
            )

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
        """Resize the screen model and the PTY (the program gets SIGWINCH)."""
        if (cols, rows) == (self.cols, self.rows):
            return
        self.cols, self.rows = cols, rows
        self.screen.resize(cols, rows)
        if not self.master_eof:
            with contextlib.suppress(OSError):
                set_winsize(self.master, cols, rows)

    def info(self) -> dict[str, Any]:
        """The holder's description, as the INFO reply of ``info`` (see ``holder``)."""
        return {
            **self.agent.describe(),
            "target": self.opts.target,
            "pid": os.getpid(),
            "child_pid": self.pid,
            "cols": self.cols,
            "rows": self.rows,
            "attachers": len(self.clients.attachers),
            "clients": len(self.clients.conns),
            "bracketed_paste": self.screen.modes.bracketed_paste,
            "started": self.started,
            "progress": self.progress.describe(),
            "last_output": self.last_output,
        }

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
        self.agent.exited(status)
        if self.master_eof:
            self.done = True
        else:
            self.update_master()  # read the rest even while paused
            self.add_timer(EXIT_DRAIN, self.on_drain_timeout)

    def on_drain_timeout(self) -> None:
        self.done = True  # a background process still holds the terminal open

    # -- the end -----------------------------------------------------------------------------

    def shutdown(self) -> int:
        """Tell attachers, give them FLUSH_DEADLINE to receive it all, remove the socket."""
        assert self.status is not None
        status = self.status
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        frame = wire.encode_json(wire.Frame.EXIT, {"code": code, "signal": signum})
        for conn in list(self.clients.attachers):
            self.clients.send(conn, frame)
        self.remove_socket()
        self.clients.close_all(time.monotonic() + FLUSH_DEADLINE)
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

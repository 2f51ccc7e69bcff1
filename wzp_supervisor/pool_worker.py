"""One headless worker's pipes on the daemon's loop: lines in, lines out, stderr to the log.

The process itself is a Circus watcher (``circus_backend.spawn_piped``); this module only
moves bytes. Stdout is split into lines and handed to ``on_line``; an over-long line is
dropped with a warning; stderr lines are logged; writes to stdin never block the loop (what
the pipe does not take is kept and written when it is writable again).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from asyncio import AbstractEventLoop
from collections.abc import Callable
from dataclasses import dataclass, field

from wzp_supervisor.circus_backend import PipedChild
from wzp_supervisor.git_worktrees import Worktree
from wzp_supervisor.states import PoolWorkerState
from wzp_supervisor.stream_json import MAX_LINE_BYTES, describe_bad_line
from wzp_supervisor.task_model import Task

log = logging.getLogger("wzp_supervisor.pools")


READ_CHUNK = 65536
STDERR_LINE_CHARS = 500


@dataclass(eq=False)
class Worker:
    """A running worker of a pool, what it is doing and what it has cost so far."""

    pool: str
    name: str  # "<pool>/w<n>"
    watcher: str
    child: PipedChild
    session_id: str | None
    state: PoolWorkerState = "starting"
    turns: int = 0
    cost_usd: float = 0.0  # the process's cumulative total_cost_usd
    task: Task | None = None
    interrupting: bool = False  # an interrupt was sent; its turn's result is dropped
    started: float = field(default_factory=time.time)
    idle_since: float = field(default_factory=time.monotonic)
    text: list[str] = field(default_factory=list)  # assistant text of the running turn
    worktree: Worktree | None = None  # its own git worktree (``worktree: true`` pools)
    exit_code: int | None = None
    exited: bool = False
    eof: bool = False
    _out: bytearray = field(default_factory=bytearray)
    _pending: bytearray = field(default_factory=bytearray)
    _err: bytearray = field(default_factory=bytearray)
    _loop: AbstractEventLoop | None = None
    _on_line: Callable[[Worker, bytes], None] | None = None
    _on_eof: Callable[[Worker], None] | None = None

    @property
    def pid(self) -> int:
        return self.child.pid

    def attach(
        self,
        loop: AbstractEventLoop,
        on_line: Callable[[Worker, bytes], None],
        on_eof: Callable[[Worker], None],
    ) -> None:
        """Start reading stdout and stderr on ``loop``."""
        self._loop, self._on_line, self._on_eof = loop, on_line, on_eof
        for stream in (self.child.stdin, self.child.stdout, self.child.stderr):
            os.set_blocking(stream.fileno(), False)
        loop.add_reader(self.child.stdout.fileno(), self._read_stdout)
        loop.add_reader(self.child.stderr.fileno(), self._read_stderr)

    def send(self, data: bytes) -> bool:
        """Queue ``data`` for stdin; False when stdin is closed (the worker is going away)."""
        if self.child.stdin.closed or self._loop is None:
            return False
        was_empty = not self._pending
        self._pending += data
        if was_empty:
            self._flush()
        return True

    def close_stdin(self) -> None:
        """End of input: the CLI finishes and exits."""
        if self._loop is not None and not self.child.stdin.closed:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self.child.stdin.fileno())
        self._pending.clear()
        with contextlib.suppress(OSError):
            self.child.stdin.close()

    def _flush(self) -> None:
        if self.child.stdin.closed or self._loop is None:
            return
        fd = self.child.stdin.fileno()
        try:
            written = os.write(fd, self._pending)
        except BlockingIOError:
            written = 0
        except OSError as exc:  # EPIPE: the worker is gone; its exit is reported apart
            log.info("pool worker %s: stdin closed (%s)", self.name, exc.strerror or exc)
            self.close_stdin()
            return
        del self._pending[:written]
        if self._pending:
            self._loop.add_writer(fd, self._write_more)

    def _write_more(self) -> None:
        if self._loop is not None and not self.child.stdin.closed:
            self._loop.remove_writer(self.child.stdin.fileno())
        self._flush()

    def _read_stdout(self) -> None:
        data = self._read(self.child.stdout.fileno())
        if data is None:
            return
        if not data:
            self._stop_reading()
            return
        self._take(data)

    def _take(self, data: bytes) -> None:
        self._out += data
        while True:
            end = self._out.find(b"\n")
            if end < 0:
                break
            line = bytes(self._out[:end])
            del self._out[: end + 1]
            if line.strip() and self._on_line is not None:
                self._on_line(self, line)
        if len(self._out) > MAX_LINE_BYTES:
            log.warning(
                "pool worker %s: dropped an output line over %d bytes: %s",
                self.name,
                MAX_LINE_BYTES,
                describe_bad_line(bytes(self._out[:200])),
            )
            self._out.clear()

    def drain(self) -> None:
        """Read what is left in the stdout pipe (the process has exited)."""
        if self.eof:
            return
        fd = self.child.stdout.fileno()
        while True:
            data = self._read(fd)
            if not data:
                break
            self._take(data)
        self._stop_reading()

    def _stop_reading(self) -> None:
        if self.eof:
            return
        self.eof = True
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.child.stdout.fileno())
        if self._on_eof is not None:
            self._on_eof(self)

    def _read_stderr(self) -> None:
        data = self._read(self.child.stderr.fileno())
        if not data:
            if data is not None and self._loop is not None:
                self._loop.remove_reader(self.child.stderr.fileno())
            return
        self._err += data
        *lines, rest = self._err.split(b"\n")
        self._err = bytearray(rest[-READ_CHUNK:])
        for line in lines:
            if line.strip():
                log.info(
                    "pool worker %s: %s",
                    self.name,
                    describe_bad_line(bytes(line), STDERR_LINE_CHARS),
                )

    @staticmethod
    def _read(fd: int) -> bytes | None:
        try:
            return os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def close(self) -> None:
        """Stop watching the pipes and close them."""
        self.close_stdin()
        for stream in (self.child.stdout, self.child.stderr):
            if self._loop is not None and not stream.closed:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(stream.fileno())
            with contextlib.suppress(OSError):
                stream.close()

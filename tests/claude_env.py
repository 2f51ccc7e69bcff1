"""Run the real Claude Code CLI hermetically in tests, and drive its TUI in a real PTY.

- :func:`claude_binary` finds the CLI that ``.ci/run`` installs under ``.tools/claude``.
- :func:`seed_claude_home` writes ``~/.claude.json`` so that the TUI goes straight to the
  prompt: no onboarding, no theme picker, no folder-trust dialog, no API-key approval.
- :func:`claude_environment` is the whole environment to run it with: a temp ``HOME``, the
  loopback model stub as ``ANTHROPIC_BASE_URL``, a dummy key and the switches that stop
  update checks, telemetry and error reporting.
- :class:`PtyProgram` runs a program in a fresh PTY, feeds its output to a pyte screen and
  types into it; :func:`wait_for_screen` / :func:`wait_until` poll with a deadline.
- :class:`FakeHub` is a Unix-socket NDJSON server that records what ``wzp hook`` sends and
  answers ``{"ok": true}``.

Driving the TUI (Claude Code 2.1.x): wait for :data:`PROMPT_READY` on screen before typing;
type the prompt text, wait until it shows on screen, then send ``"\\r"`` on its own (text and
``\\r`` in one write may be taken as a paste). In the permission dialog ``"1"`` … or ``"\\r"``
on the preselected "1. Yes" accepts. See :meth:`PtyProgram.submit`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import pyte
import pytest

REPO = Path(__file__).resolve().parent.parent
CLAUDE_BIN_DEFAULT = REPO / ".tools" / "claude" / "node_modules" / ".bin" / "claude"

TEST_API_KEY = "sk-ant-api03-wzp-test-" + "0123456789abcdef" * 5 + "-AAAA"
"""A dummy key of the real shape; the stub never checks it."""

PROMPT_READY = "? for shortcuts"
"""Footer text shown when the prompt is idle and accepts typing."""

PERMISSION_DIALOG = "Do you want to proceed?"
"""Text of the tool-permission dialog (option "1. Yes" is preselected)."""

QUIET_ENV: Mapping[str, str] = {
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
}
"""Switches read by CLI 2.1.x that keep it from calling home. With all of them (checked with
strace) the interactive CLI makes no DNS lookup and connects only to ``ANTHROPIC_BASE_URL``;
without the last three it still looks up downloads.claude.ai and github.com."""


def claude_binary() -> Path:
    """The Claude Code CLI: ``$WZP_CLAUDE_BIN`` or the copy ``.ci/run`` installs.

    Fails the test (never skips) when it is missing.
    """
    explicit = os.environ.get("WZP_CLAUDE_BIN")
    path = Path(explicit) if explicit else CLAUDE_BIN_DEFAULT
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"Claude Code CLI not found at {path}; `.ci/run` installs it "
            "(npm install --prefix .tools/claude @anthropic-ai/claude-code@2.1), "
            "or point WZP_CLAUDE_BIN at one"
        )
    return path


def seed_claude_home(home: Path, cwd: Path, api_key: str = TEST_API_KEY) -> Path:
    """Write ``home/.claude.json`` so the interactive CLI starts at the prompt in ``cwd``.

    Marks onboarding done, picks a theme, accepts the folder-trust dialog for ``cwd`` (under
    its given and its real path, which is what the CLI looks up) and approves ``api_key``
    (the CLI stores the last 20 characters). Returns the file written.
    """
    home.mkdir(parents=True, exist_ok=True)
    trusted = {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}
    projects = {str(cwd): trusted, os.path.realpath(cwd): trusted}
    config = {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": "2.1.0",
        "theme": "dark",
        "autoUpdates": False,
        "projects": projects,
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
    }
    path = home / ".claude.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def claude_environment(
    home: Path,
    stub_url: str,
    extra: Mapping[str, str] | None = None,
    api_key: str = TEST_API_KEY,
) -> dict[str, str]:
    """The complete environment to run the CLI with (nothing inherited but PATH basics)."""
    node = shutil.which("node") or "/usr/bin/node"
    path_dirs = [str(Path(node).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    env = {
        "HOME": str(home),
        "PATH": os.pathsep.join(dict.fromkeys(path_dirs)),
        "ANTHROPIC_BASE_URL": stub_url,
        "ANTHROPIC_API_KEY": api_key,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "SHELL": "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh",
        **QUIET_ENV,
    }
    if extra:
        env.update(extra)
    return env


def wait_until(
    predicate: Callable[[], bool], timeout: float, describe: Callable[[], str] | str = ""
) -> None:
    """Poll ``predicate`` every 20 ms until true; fail with ``describe`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = describe() if callable(describe) else describe
            raise AssertionError(f"timed out after {timeout} s: {detail}")
        time.sleep(0.02)


def wait_for_screen(screen_reader: Callable[[], str], text: str, timeout: float = 30.0) -> str:
    """Wait until ``text`` is in ``screen_reader()``; return that screen (fail with a dump)."""
    seen = ""

    def found() -> bool:
        nonlocal seen
        seen = screen_reader()
        return text in seen

    wait_until(found, timeout, lambda: f"{text!r} not on screen:\n{seen}")
    return seen


class PtyProgram:
    """A program running in its own PTY (session leader), its output kept on a pyte screen."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        cols: int = 120,
        rows: int = 40,
    ) -> None:
        self.argv = list(argv)
        self.output = bytearray()
        """Every byte the program wrote, for debugging."""
        self._lock = threading.Lock()
        self._screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)
        self.exit_status: int | None = None
        pid, fd = pty.fork()
        if pid == 0:  # child
            try:
                os.chdir(cwd)
                os.execve(self.argv[0], self.argv, dict(env))
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._reader = threading.Thread(target=self._read_loop, name="pty-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    if self.exit_status is not None:
                        return
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.output += data
                self._stream.feed(data)

    def screen_text(self) -> str:
        """The current screen, one line per row, trailing spaces stripped."""
        with self._lock:
            return "\n".join(line.rstrip() for line in self._screen.display)

    def write(self, data: bytes | str) -> None:
        """Type raw bytes (or UTF-8 text) into the PTY."""
        raw = data.encode() if isinstance(data, str) else data
        while raw:
            written = os.write(self.fd, raw)
            raw = raw[written:]

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """Wait until ``text`` is on the screen; return the screen."""
        return wait_for_screen(self.screen_text, text, timeout)

    def submit(self, prompt: str, timeout: float = 30.0) -> None:
        """Type a one-line ``prompt`` into the Claude Code input box and press Enter.

        Waits for the idle prompt first, then for the typed text to be echoed, then sends
        ``\\r`` by itself.
        """
        self.wait_for(PROMPT_READY, timeout)
        self.write(prompt)
        self.wait_for(prompt[-40:], timeout)
        self.write(b"\r")

    def alive(self) -> bool:
        """Whether the program is still running (reaps it when it has exited)."""
        if self.exit_status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.exit_status = status
        return False

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int:
        """Signal the program's process group, wait for it, close the PTY; return the status."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            wait_until(lambda: not self.alive(), timeout, f"pid {self.pid} did not exit")
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self._reader.join(timeout=2)
        assert self.exit_status is not None
        return self.exit_status

    def __enter__(self) -> PtyProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class FakeHub:
    """A stand-in hub: a Unix-socket NDJSON server that records every line it receives.

    Replies ``{"v":1,"id":…,"ok":true}`` to each request unless ``reply`` is False (then it
    reads and never answers, to test timeouts). Subclasses serve more by overriding
    :meth:`_answer`; a connection idle for ``idle_timeout`` seconds is closed.
    """

    idle_timeout: float | None = 5.0

    def __init__(self, path: Path, reply: bool = True) -> None:
        self.path = path
        self.reply = reply
        self.lines: list[bytes] = []
        self.line_connections: list[int] = []  # which connection (1, 2, …) sent each line
        self._accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, name="fake-hub", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted += 1
            threading.Thread(target=self._handle, args=(conn, self._accepted), daemon=True).start()

    def _handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            conn.settimeout(self.idle_timeout)
            buffer = b""
            try:
                while not self._stop.is_set():
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        with self._lock:
                            self.lines.append(line)
                            self.line_connections.append(number)
                        if self.reply:
                            conn.sendall(self._answer(line))
            except OSError:
                return

    def _answer(self, line: bytes) -> bytes:
        try:
            request_id = json.loads(line).get("id")
        except (ValueError, AttributeError):
            request_id = None
        return json.dumps({"v": 1, "id": request_id, "ok": True}).encode() + b"\n"

    def messages(self) -> list[dict[str, Any]]:
        """Every line received, parsed."""
        with self._lock:
            return [json.loads(line) for line in self.lines]

    def events(self) -> list[str]:
        """The ``event`` of every status.update received, in order."""
        return [m.get("event", "") for m in self.messages() if m.get("type") == "status.update"]

    def wait_event(self, event: str, timeout: float = 30.0, after: int = 0) -> dict[str, Any]:
        """Wait for a status.update of ``event`` (index ``>= after``); return the message."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            updates = [m for m in self.messages() if m.get("type") == "status.update"]
            found[:] = [m for m in updates[after:] if m.get("event") == event]
            return bool(found)

        wait_until(seen, timeout, lambda: f"no {event} hook; got {self.events()}")
        return found[0]

    def close(self) -> None:
        """Stop serving and remove the socket file."""
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def short_tmpdir(prefix: str = "wzp-") -> Iterator[Path]:
    """A temp dir with a short path under /tmp (Unix socket paths must fit in 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "PERMISSION_DIALOG",
    "PROMPT_READY",
    "TEST_API_KEY",
    "FakeHub",
    "PtyProgram",
    "claude_binary",
    "claude_environment",
    "seed_claude_home",
    "short_tmpdir",
    "wait_for_screen",
    "wait_until",
]

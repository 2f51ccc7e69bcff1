"""Helpers for the session tests: isolated XDG dirs, holders and programs in real PTYs.

Every wait is bounded; every process started is killed at teardown.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from wzp_supervisor import paths
from wzp_supervisor.session import control

WAIT = 20.0
# Run ARGV with the PTY on fd 0 as controlling terminal (so SIGWINCH reaches it).
_LOGIN = "import os, sys; os.login_tty(0); os.execvp(sys.argv[1], sys.argv[1:])"


def wait_for(predicate: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class PtyProcess:
    """A process whose stdin/stdout/stderr are a real PTY that the test drives."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cols: int = 80, rows: int = 24):
        self.master, slave = os.openpty()
        self.resize(cols, rows)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LOGIN, *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=False,
        )
        os.close(slave)
        self.output = bytearray()
        self.eof = False

    def resize(self, cols: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.master, 1 << 20)
        except OSError:
            data = b""
        if data:
            self.output += data
        else:
            self.eof = True

    def expect(self, pattern: bytes, start: int = 0, timeout: float = WAIT) -> int:
        """Read until ``pattern`` (a regex) appears in the output after ``start``; its end."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        searched = start
        while True:
            match = regex.search(self.output, searched)
            if match:
                return match.end()
            searched = max(start, len(self.output) - 256)  # patterns here are short
            if self.eof or time.monotonic() > deadline:
                tail = bytes(self.output[-600:])
                pytest.fail(f"did not see {pattern!r} (eof={self.eof}); output ends {tail!r}")
            self._pump(0.1)

    def read_to_eof(self, timeout: float = WAIT) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._pump(0.1)
        return bytes(self.output)

    def wait(self, timeout: float = WAIT) -> int:
        """Exit code, reading output meanwhile so the process never blocks on a full PTY."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{self.proc.args!r} did not exit")
            self._pump(0.05)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.master)


class SessionEnv:
    """Isolated XDG dirs; starts holders and attachers and cleans them up."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = dict(os.environ)
        for var, sub in (
            ("XDG_RUNTIME_DIR", "run"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CONFIG_HOME", "config"),
        ):
            (root / sub).mkdir(mode=0o700)
            self.env[var] = str(root / sub)
        self.env.pop("WZP_DETACH_KEY", None)
        self.holders: list[subprocess.Popen[bytes]] = []
        self.children: list[int] = []
        self.ptys: list[PtyProcess] = []

    def socket(self, target: str) -> Path:
        return paths.session_socket(*target.split("/"))

    def log(self, target: str) -> Path:
        return paths.pane_log(*target.split("/"))

    def start_holder(
        self,
        target: str,
        argv: Sequence[str],
        *extra: str,
        wait: bool = True,
        cols: int = 80,
        rows: int = 24,
    ) -> subprocess.Popen[bytes]:
        """Start a holder for ``target`` running ``argv``; wait until it answers."""
        cmd = [
            sys.executable, "-m", "wzp_supervisor.session.holder",
            "--target", target,
            "--socket", str(self.socket(target)),
            "--log", str(self.log(target)),
            "--cols", str(cols), "--rows", str(rows),
            *extra, "--", *argv,
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=self.env, stderr=subprocess.PIPE, cwd=self.root)
        self.holders.append(proc)
        if wait:
            info = wait_for(lambda: self._info(target, proc), f"holder of {target}")
            self.children.append(int(info["child_pid"]))
        return proc

    def _info(self, target: str, proc: subprocess.Popen[bytes]) -> dict[str, Any] | None:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"holder exited with {proc.returncode}: {err}")
        try:
            return control.info(self.socket(target), timeout=2)
        except control.SessionError:
            return None

    def wzp(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run ``wzp ARGS`` to completion."""
        return subprocess.run(
            [sys.executable, "-m", "wzp_supervisor", *args],
            env=self.env,
            input=input,
            capture_output=True,
            timeout=WAIT,
        )

    def attach(self, target: str, *args: str, cols: int = 80, rows: int = 24) -> PtyProcess:
        """``wzp attach TARGET`` inside a new PTY."""
        pty = PtyProcess(
            [sys.executable, "-m", "wzp_supervisor", "attach", target, *args],
            self.env, cols, rows,
        )  # fmt: skip
        self.ptys.append(pty)
        return pty

    def peek_text(self, target: str) -> str:
        return control.peek(self.socket(target), timeout=5).text

    def wait_screen(self, target: str, needle: str) -> str:
        """Wait until the holder's screen shows ``needle``; the screen text."""
        return str(
            wait_for(
                lambda: (text := self.peek_text(target)) and needle in text and text,
                f"{needle!r} on the screen of {target}",
            )
        )

    def cleanup(self) -> None:
        for pty in self.ptys:
            pty.close()
        for pid in self.children:  # the holders then exit with the programs' status
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for proc in self.holders:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr:
                proc.stderr.close()


def session_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    """Body of each session test module's ``senv`` fixture."""
    root = Path(tempfile.mkdtemp(prefix="wzp", dir="/tmp"))
    env = SessionEnv(root)
    for var in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, env.env[var])
    try:
        yield env
    finally:
        env.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def stale_socket(path: Path) -> None:
    """Leave a socket file with nobody listening, as a SIGKILLed holder does."""
    for directory in reversed([path.parent, *path.parent.parents]):
        if not directory.exists():
            directory.mkdir(mode=0o700)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()


def exchange(path: Path, data: bytes, timeout: float = 5.0) -> tuple[list[tuple[int, bytes]], bool]:
    """Send raw ``data`` to a holder; the frames it answers with and whether it closed.

    Reads until the holder closes the connection or ``timeout`` passes without a byte.
    """
    frames: list[tuple[int, bytes]] = []
    buf = b""
    closed = False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        with contextlib.suppress(OSError):
            sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            while len(buf) >= 5:
                kind, length = struct.unpack(">BI", buf[:5])
                if len(buf) < 5 + length:
                    break
                frames.append((kind, buf[5 : 5 + length]))
                buf = buf[5 + length :]
    return frames, closed


def vm_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")

"""Clients of a holder verify the runtime dir and the socket's peer before sending a byte.

Another user (``nobody``, through setpriv) plays a fake holder; the victim's attach, send and
peek must refuse with a clear message and the fake must receive nothing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.session_support import wait_for
from tests.test_security import nobody_python
from wzp_supervisor import paths

# Binds ARGV[1] (world-connectable), answers every client with an INFO frame saying ok and
# appends "connect" and "bytes N" (what the client sent) to ARGV[2].
FAKE_HOLDER = textwrap.dedent(
    """
    import json, os, socket, struct, sys
    path, log = sys.argv[1], sys.argv[2]
    for d in sys.argv[3:]:
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(8)
    open(log, "a").write("listening\\n")
    body = json.dumps({"ok": True, "target": "t/a", "lines": ["owned"]}).encode()
    while True:
        conn, _ = srv.accept()
        open(log, "a").write("connect\\n")
        conn.settimeout(2)
        total = 0
        try:
            conn.sendall(struct.pack(">BI", 0x14, len(body)) + body)
            while data := conn.recv(65536):
                total += len(data)
        except OSError:
            pass
        open(log, "a").write(f"bytes {total}\\n")
        conn.close()
    """
)


@pytest.fixture
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sticky, world-writable dir like /tmp, short enough for socket paths."""
    root = Path(f"/tmp/wzpcc{os.getpid()}")
    root.mkdir(mode=0o700)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


@contextlib.contextmanager
def fake_holder(sock: Path, log: Path, *dirs: Path) -> Iterator[None]:
    python = nobody_python()
    argv = [*python, "-c", FAKE_HOLDER, str(sock), str(log), *map(str, dirs)]
    proc = subprocess.Popen(argv, cwd="/")
    try:
        wait_for(lambda: log.exists() and "listening" in log.read_text(), "the fake holder")
        yield
    finally:
        proc.kill()
        proc.wait(10)


def victim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wzp_supervisor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def victim_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "WZP_"))}
    env.update(extra)
    return env


COMMANDS = (("send", "t/a", "the deploy key is hunter2"), ("peek", "t/a"), ("attach", "t/a"))


def received(log: Path) -> list[str]:
    """The fake's "bytes N" lines, once it has logged every connection it saw."""

    def settled() -> list[str] | None:
        lines = log.read_text().splitlines()
        done = [line for line in lines if line.startswith("bytes ")]
        return done if len(done) == lines.count("connect") else None

    return list(wait_for(lambda: settled() is not None and [settled()], "the fake's log")[0])


def test_a_runtime_dir_made_by_another_user_is_refused(shared: Path) -> None:
    tmp = shared / "tmp"
    base = tmp / f"wezterm-parallel-{os.getuid()}"
    sock = base / "s" / paths.session_socket("t", "a").name
    log = tmp / "fake.log"
    env = victim_env(TMPDIR=str(tmp), HOME=str(shared))
    with fake_holder(sock, log, base, base / "s"):
        for args in COMMANDS:
            result = victim(env, *args)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert "not by you" in result.stderr, (args, result.stderr)
            assert "owned" not in result.stdout
        assert all(line == "bytes 0" for line in received(log))


def test_a_socket_served_by_another_user_is_refused(shared: Path) -> None:
    tmp = shared / "tmp"
    run = shared / "run"
    run.mkdir(mode=0o700)
    env = victim_env(XDG_RUNTIME_DIR=str(run), HOME=str(shared))
    sessions = run / paths.APP / "s"
    sessions.mkdir(mode=0o700, parents=True)
    os.chmod(run / paths.APP, 0o700)
    planted = tmp / "planted.sock"
    log = tmp / "fake.log"
    with fake_holder(planted, log):
        os.rename(planted, sessions / paths.session_socket("t", "a").name)  # as if it got in
        for args in COMMANDS:
            result = victim(env, *args)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert "served by uid" in result.stderr, (args, result.stderr)
            assert "owned" not in result.stdout
        assert received(log) and all(line == "bytes 0" for line in received(log))

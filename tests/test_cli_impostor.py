"""Every client checks the hub before it sends a byte: another user cannot pose as the daemon.

Another local user (``nobody``, through ``setpriv``) serves a fake hub that answers ok to
everything and records every byte it receives. Without ``XDG_RUNTIME_DIR`` the runtime dir
is ``<tmp>/wezterm-parallel-<uid>``, which that user can create first; with it, a socket of
theirs can still end up in our private dir. Either way ``wzp`` refuses, loudly, naming the
path, and the fake hub receives nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import WzpEnv, make_env
from tests.test_security import as_nobody_prefix

PY = sys.executable

# Run as nobody: serve a hub at argv[1] (and any more sockets after it) that says ok to
# everything (with the fields the CLI prints), appending every byte received to argv[-1].
FAKE_HUB = r"""
import json, os, socket, sys, threading
sock_paths, log_path = sys.argv[1:-1], sys.argv[-1]
ANSWER = {
    "pid": 4242, "version": "6.6.6", "uptime": 1.0, "done": True,
    "task": {"id": "t1", "state": "done", "result": "ATTACKER ANSWER"},
    "daemon": {"pid": 4242}, "workspaces": [], "processes": [], "events": [],
}
def listen(path):
    if not os.path.exists(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
        os.chmod(os.path.dirname(path), 0o777)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(16)
    return server
def accept(server):
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
def serve(conn):
    with conn:
        buffer = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            with open(log_path, "ab") as log:
                log.write(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    msg_id = json.loads(line).get("id")
                except ValueError:
                    msg_id = None
                reply = {"v": 1, "id": msg_id, "ok": True, **ANSWER}
                conn.sendall(json.dumps(reply).encode() + b"\n")
servers = [listen(path) for path in sock_paths]
for server in servers:
    threading.Thread(target=accept, args=(server,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


@dataclass
class Impostor:
    """A fake hub served by another user, and what it received."""

    socket: Path
    log: Path

    def received(self) -> bytes:
        return self.log.read_bytes() if self.log.exists() else b""


@contextlib.contextmanager
def impostor_hub(sock: Path, log: Path, *more: Path) -> Iterator[Impostor]:
    """Run FAKE_HUB as nobody at ``sock`` (and ``more`` sockets); stop it afterwards."""
    proc = subprocess.Popen(
        [*as_nobody_prefix(), PY, "-c", FAKE_HUB, str(sock), *map(str, more), str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"ready\n", proc.stderr.read() if proc.stderr else line
        yield Impostor(sock, log)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir like /tmp (root-owned, sticky, world-writable) that nobody can reach."""
    base = Path(tempfile.mkdtemp(prefix="wzpi", dir="/tmp"))
    try:
        base.chmod(0o755)
        tmp = base / "tmp"
        tmp.mkdir()
        tmp.chmod(0o1777)
        yield tmp
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def victim() -> Iterator[WzpEnv]:
    env = make_env()
    try:
        yield env
    finally:
        shutil.rmtree(env.root, ignore_errors=True)


def refuses(result: subprocess.CompletedProcess[str], path: Path) -> None:
    """``result`` is a loud refusal (exit 1, stderr naming ``path``) that printed nothing."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert str(path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "4242" not in result.stdout + result.stderr
    assert "ATTACKER ANSWER" not in result.stdout


def hook_refuses(result: subprocess.CompletedProcess[str], path: Path) -> None:
    """The hook command still exits 0 with nothing on stdout, and says why on stderr."""
    assert result.returncode == 0
    assert result.stdout == ""
    assert str(path) in result.stderr, result.stderr
    assert "refusing" in result.stderr


CLIENT_CALLS: list[tuple[str, ...]] = [
    ("up",),
    ("ping",),
    ("status",),
    ("status", "--json"),
    ("status", "--format", "wezterm"),
    ("list",),
    ("down",),
    ("task", "submit", "the deploy key is hunter2", "--wait"),
]


def test_a_runtime_dir_made_by_another_user_is_refused(shared_tmp: Path, victim: WzpEnv) -> None:
    """No XDG_RUNTIME_DIR: nobody creates <tmp>/wezterm-parallel-<uid> (0777) first."""
    runtime = shared_tmp / f"wezterm-parallel-{os.getuid()}"
    env = {k: v for k, v in victim.env.items() if k != "XDG_RUNTIME_DIR"}
    env["TMPDIR"] = str(shared_tmp)
    victim.env.clear()
    victim.env.update(env)
    session = runtime / "s" / "demo--agent-1.sock"
    with impostor_hub(runtime / "hub.sock", runtime / "received", session) as fake:
        assert os.stat(runtime).st_uid != os.getuid()
        for args in CLIENT_CALLS:
            refuses(victim.wzp(*args), runtime)
        # the session verbs talk to holder sockets in the same dir
        for args in (("send", "demo/agent-1", "hunter2"), ("peek", "demo/agent-1")):
            refuses(victim.wzp(*args), runtime)
        hook = victim.wzp("hook", "Stop", input="{}", extra_env={"WZP_AGENT": "demo/agent-1"})
        hook_refuses(hook, runtime)
        assert fake.received() == b""
    assert "hunter2" not in fake.received().decode(errors="replace")


def test_a_socket_served_by_another_user_is_refused(shared_tmp: Path, victim: WzpEnv) -> None:
    """Our own private runtime dir, but the socket in it is served by nobody."""
    runtime = victim.runtime_dir
    runtime.mkdir(mode=0o700)
    theirs = shared_tmp / "theirs"
    theirs.mkdir()
    theirs.chmod(0o777)
    with impostor_hub(theirs / "hub.sock", theirs / "received") as fake:
        hub_sock = runtime / "hub.sock"
        os.rename(fake.socket, hub_sock)  # a bound socket keeps working under its new name
        for args in CLIENT_CALLS:
            refuses(victim.wzp(*args), hub_sock)
        hook = victim.wzp("hook", "Stop", input="{}", extra_env={"WZP_AGENT": "demo/agent-1"})
        hook_refuses(hook, hub_sock)
        # agents are given the socket's path explicitly
        hook = victim.wzp(
            "hook",
            "Stop",
            input="{}",
            extra_env={"WZP_AGENT": "demo/agent-1", "WZP_HUB_SOCKET": str(hub_sock)},
        )
        hook_refuses(hook, hub_sock)
        assert fake.received() == b""

"""Isolation and security (issue #8): private sockets, peer checks, the runtime-dir check,
secrets kept out of files, validated names, rlimits and commands that never meet a shell.

CI runs as root, so another user is simulated with ``setpriv`` (or ``su``) as ``nobody``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from tests.claude_env import (
    PROMPT_READY,
    QUIET_ENV,
    claude_binary,
    claude_environment,
    seed_claude_home,
)
from tests.conftest import WzpEnv
from wzp_supervisor import hub, paths, protocol
from wzp_supervisor import watcher_plan as watchers
from wzp_supervisor.events import EventBus
from wzp_supervisor.templates import PaneSpec

if TYPE_CHECKING:
    from tests.model_stub import ModelStub


PY = sys.executable
MINIMAL = "framework:\n  log_level: info\n"
SLEEP = "import time; time.sleep(10000)"

# The probe another user runs: a raw connect to the hub, a hub ping, a raw connect to the
# Circus socket and a zmq request (as circusctl sends it) to the Circus endpoint.
# Prints one JSON line of results.
PROBE = r"""
import json, socket, sys
hub_path, circus_path = sys.argv[1], sys.argv[2]
out = {"uid": __import__("os").getuid()}
def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
    except OSError as exc:
        s.close()
        return None, type(exc).__name__
    return s, "connected"
s, out["hub_connect"] = connect(hub_path)
if s is not None:
    try:  # the hub answers a refused peer at once and closes: our send may find it closed
        s.sendall(b'{"v":1,"id":"p","type":"ping"}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    out["hub_reply"] = json.loads(data) if data.strip() else None
    s.close()
c, out["circus_connect"] = connect(circus_path)
if c is not None:
    c.close()
try:
    import zmq
except ImportError:
    out["zmq"] = "unavailable"
else:
    ctx = zmq.Context()
    req = ctx.socket(zmq.DEALER)  # what circusctl uses: the arbiter's ROUTER wants 2 frames
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, int(float(sys.argv[3]) * 1000))
    req.connect("ipc://" + circus_path)
    req.send_json({"id": "probe", "command": "list", "properties": {}})
    try:
        out["zmq"] = req.recv_json()
    except zmq.Again:
        out["zmq"] = "no reply"
    req.close()
    ctx.term()
print(json.dumps(out))
"""


def as_nobody_prefix() -> list[str]:
    """argv prefix running a command as nobody, or skip when neither tool exists."""
    if os.getuid() != 0:
        pytest.skip("needs root to switch to nobody")
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("neither setpriv nor runuser is installed")


def nobody_python() -> list[str]:
    """A Python that nobody can run and that imports zmq (this venv's, or the system one)."""
    prefix = as_nobody_prefix()
    site = next(p for p in sys.path if p.endswith("site-packages"))
    for argv in ([PY], ["env", f"PYTHONPATH={site}", "/usr/bin/python3"]):
        ok = subprocess.run(
            [*prefix, *argv, "-c", "import zmq"], capture_output=True, cwd="/", timeout=60
        )
        if ok.returncode == 0:
            return [*prefix, *argv]
    pytest.skip("no Python that nobody can run with zmq")


def probe(python: list[str], env: WzpEnv, wait: float) -> dict[str, Any]:
    result = subprocess.run(
        [
            *python,
            "-c",
            PROBE,
            str(env.runtime_dir / "hub.sock"),
            str(env.runtime_dir / "circus.sock"),
            str(wait),
        ],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@contextlib.contextmanager
def modes(*changes: tuple[Path, int]) -> Iterator[None]:
    """Temporarily chmod paths; the old modes come back afterwards."""
    old = [(path, stat.S_IMODE(path.stat().st_mode)) for path, _ in changes]
    try:
        for path, mode in changes:
            path.chmod(mode)
        yield
    finally:
        for path, mode in reversed(old):
            path.chmod(mode)


@pytest.fixture
def running(wzp_env: WzpEnv) -> WzpEnv:
    """A daemon with a minimal config."""
    wzp_env.write_config(MINIMAL)
    wzp_env.wzp("up", check=True)
    return wzp_env


# -- sockets ----------------------------------------------------------------------------------


def test_another_user_cannot_reach_the_hub_or_circus(running: WzpEnv) -> None:
    daemon = running
    python = nobody_python()
    # the same probe as ourselves reaches both (the probe itself works)
    ours = probe([PY], daemon, wait=30)
    assert ours["hub_connect"] == "connected" and ours["hub_reply"]["ok"] is True
    assert ours["circus_connect"] == "connected"
    assert ours["zmq"]["status"] == "ok"

    theirs = probe(python, daemon, wait=2)
    assert theirs["uid"] != os.getuid()
    # the 0700 runtime dir stops them before any socket is reached
    assert theirs["hub_connect"] == "PermissionError"
    assert theirs["circus_connect"] == "PermissionError"
    assert theirs["zmq"] == "no reply"
    assert stat.S_IMODE(daemon.runtime_dir.stat().st_mode) == 0o700


def test_sockets_are_private_and_the_hub_checks_the_peer(running: WzpEnv) -> None:
    """Take the barriers away one by one: each remaining one still refuses nobody."""
    daemon = running
    python = nobody_python()
    hub_sock = daemon.runtime_dir / "hub.sock"
    circus_sock = daemon.runtime_dir / "circus.sock"
    for sock in (hub_sock, circus_sock):
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0, sock
    dirs = [daemon.root, daemon.root / "r", daemon.runtime_dir]
    with modes(*((d, 0o711) for d in dirs)):  # traversable: only the socket modes protect
        theirs = probe(python, daemon, wait=2)
        assert theirs["hub_connect"] == "PermissionError"
        assert theirs["circus_connect"] == "PermissionError"
        with modes((hub_sock, 0o666)):  # even an open socket: the hub checks the peer's uid
            theirs = probe(python, daemon, wait=2)
    assert theirs["hub_connect"] == "connected"
    assert theirs["hub_reply"]["ok"] is False
    assert theirs["hub_reply"]["error"]["code"] == "forbidden"
    log = (daemon.state_dir / "logs" / "daemon.jsonl").read_text()
    assert f"refused a hub connection from uid {theirs['uid']}" in log
    assert daemon.wzp("ping").returncode == 0  # and we are still served


def test_the_daemon_listens_on_no_network_socket(running: WzpEnv) -> None:
    """Circus endpoints are ipc:// only and multicast discovery is off: no TCP, no UDP."""
    pid = running.daemon_pid()
    assert pid is not None
    inet = psutil.Process(pid).net_connections(kind="inet")
    assert inet == []
    unix = {c.laddr for c in psutil.Process(pid).net_connections(kind="unix") if c.laddr}
    assert str(running.runtime_dir / "circus.sock") in unix
    assert str(running.runtime_dir / "hub.sock") in unix


def test_hub_refuses_a_peer_with_another_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """In process: the refusal path of the peer check, against a real socket."""
    path = Path(os.path.join("/tmp", f"wzp-peer-{os.getpid()}.sock"))
    served: list[dict[str, Any]] = []

    async def handler(msg: dict[str, Any]) -> dict[str, Any]:
        served.append(msg)
        return {"pong": True}

    async def exchange() -> list[dict[str, Any]]:
        server = hub.HubServer(path, EventBus())
        server.register("ping", handler)
        await server.start()
        try:
            replies = []
            for peer in (os.getuid(), os.getuid() + 1):
                monkeypatch.setattr(hub, "peer_uid", lambda _sock, uid=peer: uid)
                reader, writer = await asyncio.open_unix_connection(os.fspath(path))
                writer.write(protocol.encode({"v": 1, "id": "x", "type": "ping"}))
                await writer.drain()
                replies.append(json.loads(await reader.readline()))
                # a refused connection is closed (with our request unread: maybe a reset)
                with contextlib.suppress(ConnectionResetError):
                    if peer != os.getuid():
                        assert await reader.read() == b""
                    writer.close()
                    await writer.wait_closed()
            return replies
        finally:
            await server.stop()

    mine, theirs = asyncio.run(asyncio.wait_for(exchange(), 30))
    assert mine["ok"] is True and mine["pong"] is True
    assert theirs["ok"] is False and theirs["error"]["code"] == "forbidden"
    assert len(served) == 1
    assert not path.exists()


def test_peer_uid_reads_the_real_credentials() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert hub.peer_uid(left) == os.getuid()


# -- runtime dir ------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["daemon", "up"])
def test_runtime_dir_open_to_others_is_refused(wzp_env: WzpEnv, verb: str) -> None:
    wzp_env.write_config(MINIMAL)
    wzp_env.runtime_dir.mkdir(mode=0o700)
    wzp_env.runtime_dir.chmod(0o777)
    result = wzp_env.wzp(verb)
    assert result.returncode == 1
    assert f"{wzp_env.runtime_dir} has mode 0777; it must be 0700" in result.stderr
    assert f"chmod 700 {wzp_env.runtime_dir}" in result.stderr
    assert not (wzp_env.runtime_dir / "hub.sock").exists()
    assert wzp_env.daemon_pid() is None


@pytest.mark.parametrize("verb", ["daemon", "up"])
def test_runtime_dir_of_another_owner_is_refused(wzp_env: WzpEnv, verb: str) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a directory away")
    wzp_env.write_config(MINIMAL)
    wzp_env.runtime_dir.mkdir(mode=0o700)
    os.chown(wzp_env.runtime_dir, 65534, 65534)
    result = wzp_env.wzp(verb)
    assert result.returncode == 1
    assert "is owned by uid 65534, not by you" in result.stderr
    assert not (wzp_env.runtime_dir / "hub.sock").exists()


def test_runtime_dir_symlink_and_open_parent_are_refused(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(MINIMAL)
    elsewhere = wzp_env.root / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    wzp_env.runtime_dir.symlink_to(elsewhere)
    result = wzp_env.wzp("daemon")
    assert result.returncode == 1 and "is not a directory" in result.stderr
    wzp_env.runtime_dir.unlink()

    parent = wzp_env.root / "r"
    with modes((parent, 0o777)):  # others could rename our dir away and put theirs there
        result = wzp_env.wzp("daemon")
    assert result.returncode == 1
    assert f"{parent} has mode 0777: other users could replace" in result.stderr
    with modes((parent, 0o1777)):  # sticky, like /tmp: fine
        wzp_env.wzp("up", check=True)


def test_runtime_dir_check_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "run"
    base.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    created = paths.runtime_dir()
    assert stat.S_IMODE(created.stat().st_mode) == 0o700
    created.chmod(0o750)
    with pytest.raises(paths.RuntimeDirError, match="it must be 0700"):
        paths.runtime_dir()


# -- secrets ----------------------------------------------------------------------------------

MARKER = "sk-ant-wzp-marker-" + "7f3a9c" * 6
LITERAL = "literal-secret-" + "b81e" * 6

# Checks its environment without ever printing it: writes a verdict (no values) outside XDG.
ENV_CHECK = r"""
import hashlib, json, os, sys, time
expect = sys.argv[1]
got = {
    "key": hashlib.sha256(os.environ.get("ANTHROPIC_API_KEY", "").encode()).hexdigest(),
    "token": hashlib.sha256(os.environ.get("MY_TOKEN", "").encode()).hexdigest(),
    "literal": hashlib.sha256(os.environ.get("GITHUB_TOKEN", "").encode()).hexdigest(),
    "names": sorted(os.environ),
}
open(expect, "w").write(json.dumps(got))
print("agent ready", flush=True)
time.sleep(10000)
"""


def test_secrets_reach_the_agent_and_no_file_or_output(wzp_env: WzpEnv) -> None:
    verdict = wzp_env.root / "verdict.json"
    shell_out = "echo shell pane $WZP_AGENT; " + f"{PY} -c 'import time; time.sleep(10000)'"
    wzp_env.write_config(
        f"""
framework:
  log_level: debug
processes:
  claude_code:
    env_passthrough: [ANTHROPIC_API_KEY]
    environment:
      MY_TOKEN: "${{ANTHROPIC_API_KEY}}"
workspaces:
  default_template: t
  templates:
    t:
      layout: two_pane_horizontal
      panes:
        - name: agent
          position: left
          command: [{json.dumps(PY)}, '-c', {json.dumps(ENV_CHECK)}, {json.dumps(str(verdict))}]
          agent: claude
          environment:
            GITHUB_TOKEN: {LITERAL}
        - name: sh
          position: right
          shell: true
          command: {json.dumps(shell_out)}
"""
    )
    secret_env = {"ANTHROPIC_API_KEY": MARKER, "UNLISTED_SECRET": MARKER}
    wzp_env.wzp("up", check=True, extra_env=secret_env)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    wzp_env.wait_for(lambda: verdict.exists() and verdict.read_text(), what="the agent's verdict")
    got = json.loads(verdict.read_text())
    assert got["key"] == hashlib.sha256(MARKER.encode()).hexdigest()
    assert got["token"] == hashlib.sha256(MARKER.encode()).hexdigest()
    assert got["literal"] == hashlib.sha256(LITERAL.encode()).hexdigest()
    assert "UNLISTED_SECRET" not in got["names"]  # scrubbed: not in the allowlist
    assert "WZP_AGENT" in got["names"]
    wzp_env.wait_for(
        lambda: "shell pane demo/sh" in wzp_env.wzp("logs", "demo/sh", "--plain").stdout,
        what="the shell pane's output",
    )

    # outputs of the CLI
    outputs = [
        wzp_env.wzp("status", "--json", check=True).stdout,
        wzp_env.wzp("workspace", "list", "--json", check=True).stdout,
        wzp_env.wzp("config", "show", check=True, extra_env=secret_env).stdout,
        wzp_env.wzp("config", "show", "--format", "json", check=True).stdout,
        wzp_env.wzp("logs", "demo/agent", check=True).stdout,
        wzp_env.wzp("peek", "demo/agent", check=True).stdout,
    ]
    events = wzp_env.wzp("events", extra_env=secret_env)  # a later area; may not exist yet
    outputs.append(events.stdout + events.stderr)
    for out in outputs:
        assert MARKER not in out and LITERAL not in out
    # holders do not carry secrets on their command lines
    for proc in wzp_env.our_processes():
        with contextlib.suppress(psutil.Error):
            assert MARKER not in " ".join(proc.cmdline())

    wzp_env.wzp("down", check=True)  # final state save, logs flushed
    scanned = scan_for(wzp_env, [MARKER])
    scan_for(wzp_env, [LITERAL], skip=(wzp_env.config_dir / "config.yaml",))
    assert scanned >= 4  # state, daemon log, pane logs, config at least


def scan_for(env: WzpEnv, needles: list[str], skip: tuple[Path, ...] = ()) -> int:
    """Assert no file under the XDG dirs holds any of ``needles``; returns the files read."""
    scanned = 0
    for base in ("c", "s", "r"):
        for path in (env.root / base).rglob("*"):
            if path.is_file() and not path.is_symlink() and path not in skip:
                data = path.read_bytes()
                scanned += 1
                for needle in needles:
                    assert needle.encode() not in data, f"{needle[:12]}… leaked into {path}"
    return scanned


def test_a_real_claude_run_keeps_the_key_out_of_every_file(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    """The real Claude Code CLI under the daemon, with the key passed by name: it talks to the
    model stub with the key, and neither the full key nor its tail lands in any XDG file."""
    home = wzp_env.root / "home"
    seed_claude_home(home, wzp_env.work, api_key=MARKER)
    agent_env = claude_environment(home, model_stub.url, api_key=MARKER)
    names = sorted({*QUIET_ENV, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"})
    wzp_env.write_config(
        f"""
framework:
  log_level: debug
processes:
  claude_code:
    command: [{json.dumps(str(claude_binary()))}, "--permission-mode", "default"]
    env_passthrough: {json.dumps(names)}
workspaces:
  default_template: t
  templates:
    t:
      layout: single
      panes:
        - name: agent
          position: main
"""
    )
    daemon_env = {**agent_env, "PATH": agent_env["PATH"] + os.pathsep + wzp_env.env["PATH"]}
    wzp_env.wzp("up", check=True, extra_env=daemon_env)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)

    def screen() -> str:
        return wzp_env.wzp("peek", "demo/agent").stdout

    wzp_env.wait_for(lambda: PROMPT_READY in screen(), timeout=60, what="the Claude prompt")
    model_stub.reply_text("the stub answers politely")
    wzp_env.wzp("send", "demo/agent", "hello from the security test", check=True)
    wzp_env.wait_for(lambda: "hello from the security test" in screen(), what="the typed text")
    wzp_env.wzp("send", "demo/agent", "", "--enter", check=True)
    wzp_env.wait_for(lambda: "the stub answers politely" in screen(), timeout=60, what="reply")
    sent = model_stub.main_requests()
    headers = {k.lower(): v for k, v in sent[-1].headers.items()} if sent else {}
    assert headers.get("x-api-key") == MARKER  # the agent had the key

    wzp_env.wzp("down", check=True)
    assert scan_for(wzp_env, [MARKER, MARKER[-20:]]) >= 4


def test_config_show_masks_literal_secrets(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(
        f"""
processes:
  claude_code:
    environment:
      ANTHROPIC_API_KEY: {MARKER}
      FROM_ENV_KEY: "${{ANTHROPIC_API_KEY}}"
workspaces:
  templates:
    t:
      layout: single
      panes:
        - name: a
          position: main
          environment:
            DB_PASSWORD: {LITERAL}
"""
    )
    for fmt in ("yaml", "json", "toml"):
        out = wzp_env.wzp(
            "config", "show", "--format", fmt, check=True, extra_env={"ANTHROPIC_API_KEY": MARKER}
        ).stdout
        assert MARKER not in out and LITERAL not in out
        assert "***" in out
        assert "${ANTHROPIC_API_KEY}" in out  # a reference is no secret


# -- names and commands -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a/b", "must not contain '/'"),
        ("..", "must not contain '..'"),
        ("x..y", "must not contain '..'"),
        ("../../etc", "must not contain '/'"),
        ("a" * 200, "too long (200 characters; at most 63)"),
    ],
)
def test_bad_workspace_names_are_rejected(running: WzpEnv, name: str, problem: str) -> None:
    daemon = running
    result = daemon.wzp("workspace", "create", name, "--dir", str(daemon.work))
    assert result.returncode == 1
    assert problem in result.stderr
    assert daemon.status()["workspaces"] == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [("a/b", "must not contain '/'"), ("..", "'..'"), ("p" * 200, "too long")],
)
def test_bad_pane_names_are_rejected_by_config_check(
    wzp_env: WzpEnv, name: str, problem: str
) -> None:
    path = wzp_env.write_config(
        f"""
workspaces:
  templates:
    t:
      layout: single
      panes:
        - name: {json.dumps(name)}
          position: main
"""
    )
    result = wzp_env.wzp("config", "check", str(path))
    assert result.returncode == 1
    assert problem in result.stderr
    assert "name" in result.stderr


def test_rlimits_are_visible_to_the_agent(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(
        """
workspaces:
  default_template: t
  templates:
    t:
      layout: single
      rlimits:
        nofile: 321
        nproc: 4321
        as: 4294967296
      panes:
        - name: sh
          position: main
          command:
            - bash
            - -c
            - 'echo "nofile=$(ulimit -n) nproc=$(ulimit -u) as=$(ulimit -v)"; sleep 10000'
"""
    )
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    log = paths_pane_log(wzp_env, "demo", "sh")
    text = wzp_env.wait_for(
        lambda: log.exists() and "nofile=" in log.read_text() and log.read_text(),
        what="the ulimit line",
    )
    assert "nofile=321 nproc=4321 as=4194304" in text  # ulimit -v is in KiB
    holder = wzp_env.process("demo/sh")["pid"]
    child = psutil.Process(holder).children()[0]
    assert child.rlimit(psutil.RLIMIT_NOFILE)[0] == 321


def paths_pane_log(env: WzpEnv, workspace: str, pane: str) -> Path:
    return env.state_dir / "logs" / workspace / f"{pane}.log"


def test_command_string_without_shell_is_not_run_by_a_shell(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(
        """
workspaces:
  default_template: t
  templates:
    t:
      layout: two_pane_horizontal
      panes:
        - name: plain
          position: left
          command: "echo $HOME; touch x"
          restart_policy: never
        - name: shelled
          position: right
          command: "echo $HOME; touch y"
          shell: true
          restart_policy: never
"""
    )
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    for target in ("demo/plain", "demo/shelled"):
        wzp_env.wait_for(lambda t=target: wzp_env.process(t)["state"] == "exited", what=target)
    plain = paths_pane_log(wzp_env, "demo", "plain").read_text()
    assert "$HOME; touch x" in plain  # echo got the words as they were
    assert not (wzp_env.work / "x").exists()
    # the shell: true counterpart did go through sh -c
    assert (wzp_env.work / "y").exists()
    assert os.environ.get("HOME", "/") in paths_pane_log(wzp_env, "demo", "shelled").read_text()


def _spec(**overrides: Any) -> PaneSpec:
    base: dict[str, Any] = {
        "workspace": "w",
        "pane": "p",
        "target": "w/p",
        "position": "main",
        "argv": ("echo", "$HOME;", "touch", "x"),
        "agent": "none",
        "supervised": True,
        "shell": False,
        "cwd": Path("/tmp"),
        "environment": {},
        "restart_policy": "never",
        "min_uptime": 1.0,
        "max_retries": 1,
        "backoff_max": 1.0,
        "graceful_timeout": 1.0,
        "rlimits": {},
        "isolation": "none",
    }
    base.update(overrides)
    return PaneSpec(**base)


def test_holder_argv_uses_a_shell_only_when_asked() -> None:
    argv = watchers.holder_argv(_spec())
    assert argv[argv.index("--") + 1 :] == ["echo", "$HOME;", "touch", "x"]
    shelled = watchers.holder_argv(_spec(argv=("echo $HOME; touch x",), shell=True))
    assert shelled[shelled.index("--") + 1 :] == ["/bin/sh", "-c", "echo $HOME; touch x"]


def test_agent_environment_is_scrubbed() -> None:
    daemon_env = {
        "PATH": "/bin",
        "HOME": "/home/u",
        "LC_ALL": "C",
        "XDG_RUNTIME_DIR": "/run/user/1",
        "ANTHROPIC_API_KEY": MARKER,
        "AWS_SECRET_ACCESS_KEY": "nope",
        "GH_TOKEN": "nope",
    }
    spec = _spec(environment={"MY_KEY": "${ANTHROPIC_API_KEY}", "PLAIN": "v", "GONE": "${NOPE}"})
    env, missing = watchers.agent_environment(spec, daemon_env)
    assert env["MY_KEY"] == MARKER and env["PLAIN"] == "v"
    assert "ANTHROPIC_API_KEY" not in env  # only by name, when configured
    assert "AWS_SECRET_ACCESS_KEY" not in env and "GH_TOKEN" not in env
    assert env["PATH"] == "/bin" and env["LC_ALL"] == "C" and env["WZP_AGENT"] == "w/p"
    assert missing == ["NOPE"]
    passed, _ = watchers.agent_environment(spec, daemon_env, ("ANTHROPIC_API_KEY",))
    assert passed["ANTHROPIC_API_KEY"] == MARKER

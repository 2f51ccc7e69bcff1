"""The daemon end to end: real Circus arbiter, real processes, real sockets (issue #2)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import WzpEnv
from tests.support import SLEEP, config_with, pane, running_pid, start


def holder_children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_kill_9_respawns_at_once_and_counts_restart(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)))
    pid = running_pid(wzp_env, "demo/a1")
    os.kill(pid, signal.SIGKILL)
    new_pid = wzp_env.wait_for(
        lambda: (
            (p := wzp_env.process("demo/a1"))["state"] == "running" and p["pid"] != pid and p["pid"]
        ),
        what="a new pid",
    )
    assert new_pid != pid
    proc = wzp_env.process("demo/a1")
    holder_log = wzp_env.state_dir / "logs" / "demo" / "a1.holder.log"
    detail = holder_log.read_text() if holder_log.exists() else "(no holder log)"
    assert proc["restarts"] == 1, f"{proc}\nholder log:\n{detail[-2000:]}"
    # the agent itself (the holder's child) runs again too
    wzp_env.wait_for(lambda: holder_children(new_pid), what="agent child of the new holder")


def test_on_failure_exit_zero_stays_down(wzp_env: WzpEnv) -> None:
    start(
        wzp_env,
        config_with(pane("ok", "top_left", "import sys; sys.exit(0)", restart_policy="on-failure")),
    )
    proc = wzp_env.wait_for(
        lambda: (p := wzp_env.process("demo/ok"))["state"] == "exited" and p, what="exited state"
    )
    assert proc["exit_code"] == 0
    assert proc["restarts"] == 0
    time.sleep(1.5)  # a wrongly scheduled restart would have happened by now
    assert wzp_env.process("demo/ok")["state"] == "exited"


def test_crash_loop_backs_off_then_goes_fatal(wzp_env: WzpEnv) -> None:
    starts = wzp_env.root / "starts"
    code = f"open({str(starts)!r}, 'a').write('x'); import sys; sys.exit(2)"
    start(
        wzp_env,
        config_with(
            pane(
                "bad",
                "top_left",
                code,
                restart_policy="always",
                min_uptime=5,
                max_retries=3,
                backoff_max=1,
            )
        ),
    )
    states = set()

    def fatal() -> bool:
        proc = wzp_env.process("demo/bad")
        states.add(proc["state"])
        return bool(proc["state"] == "fatal")

    wzp_env.wait_for(fatal, timeout=30, what="fatal")
    assert "backoff" in states
    assert len(starts.read_text()) == 3  # max_retries starts, no more
    proc = wzp_env.process("demo/bad")
    assert "3 times in a row" in proc["reason"]
    time.sleep(1.5)
    assert len(starts.read_text()) == 3
    text = wzp_env.wzp("status").stdout
    assert "fatal" in text
    # `wzp start` clears fatal and tries again
    wzp_env.wzp("start", "demo/bad", check=True)
    wzp_env.wait_for(lambda: len(starts.read_text()) >= 4, what="a new start")


def test_stop_reaches_grandchildren_and_restart(wzp_env: WzpEnv) -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(10000)']); "
        "time.sleep(10000)"
    )
    start(wzp_env, config_with(pane("tree", "top_left", code)))
    pid = running_pid(wzp_env, "demo/tree")
    family = wzp_env.wait_for(
        lambda: len(c := holder_children(pid)) >= 2 and c, what="child and grandchild"
    )
    holder = psutil.Process(pid)
    result = wzp_env.wzp("stop", "demo/tree", check=True)
    assert "stopped" in result.stdout
    for proc in [holder, *family]:
        wzp_env.wait_for(
            lambda p=proc: not p.is_running() or p.status() == "zombie",
            timeout=10,
            what=f"pid {proc.pid} gone",
        )
    assert wzp_env.process("demo/tree")["state"] == "stopped"
    wzp_env.wzp("restart", "demo/tree", check=True)
    assert running_pid(wzp_env, "demo/tree") != pid


def _cmdline_count(env: WzpEnv, needle: str) -> int:
    return sum(
        1
        for p in env.our_processes()
        if needle in " ".join(p.cmdline())
        and not any("session.holder" in arg for arg in p.cmdline())
    )


def test_daemon_sigkill_then_up_restores_without_duplicates(wzp_env: WzpEnv) -> None:
    marker = "import time; time.sleep(10000)  # dup-marker"
    start(wzp_env, config_with(pane("a1", "top_left", marker) + pane("a2", "top_right", marker)))
    running_pid(wzp_env, "demo/a1")
    running_pid(wzp_env, "demo/a2")
    wzp_env.wait_for(lambda: _cmdline_count(wzp_env, "dup-marker") == 2, what="two agents")
    daemon_pid = wzp_env.daemon_pid()
    assert daemon_pid
    os.kill(daemon_pid, signal.SIGKILL)
    wzp_env.wait_for(
        lambda: (
            not psutil.pid_exists(daemon_pid) or psutil.Process(daemon_pid).status() == "zombie"
        ),
        what="daemon dead",
    )
    assert wzp_env.wzp("ping").returncode == 3
    assert _cmdline_count(wzp_env, "dup-marker") == 2  # orphans live on under init
    wzp_env.wzp("up", check=True)
    running_pid(wzp_env, "demo/a1")
    running_pid(wzp_env, "demo/a2")
    wzp_env.wait_for(lambda: _cmdline_count(wzp_env, "dup-marker") == 2, what="two agents")
    time.sleep(1)
    assert _cmdline_count(wzp_env, "dup-marker") == 2
    names = [w["name"] for w in wzp_env.status()["workspaces"]]
    assert names == ["demo"]


def test_down_then_up_restores_workspaces_and_stopped_stays_stopped(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP) + pane("a2", "top_right", SLEEP)))
    running_pid(wzp_env, "demo/a1")
    wzp_env.wzp("stop", "demo/a2", check=True)
    wzp_env.wzp("down", check=True)
    assert wzp_env.our_processes() == []
    wzp_env.wzp("up", check=True)
    running_pid(wzp_env, "demo/a1")
    assert wzp_env.process("demo/a2")["state"] == "stopped"


def test_corrupt_state_file_recovers_from_backup(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)))
    running_pid(wzp_env, "demo/a1")
    wzp_env.wzp("down", check=True)
    state = wzp_env.state_dir / "state.json"
    backups = list((wzp_env.state_dir / "backups").iterdir())
    assert 1 <= len(backups) <= 5
    state.write_text('{"schema": 1, "workspaces": {"demo": ')  # truncated write
    wzp_env.wzp("up", check=True)
    running_pid(wzp_env, "demo/a1")
    assert list(wzp_env.state_dir.glob("state.json.corrupt-*"))
    log = (wzp_env.state_dir / "logs" / "daemon.jsonl").read_text()
    assert "unreadable" in log


def test_second_daemon_is_refused(daemon: WzpEnv) -> None:
    result = daemon.wzp("daemon", timeout=30)
    assert result.returncode == 1
    assert "another wzp daemon is running" in result.stderr
    assert str(daemon.daemon_pid()) in result.stderr
    assert daemon.wzp("ping").returncode == 0


def _raw(env: WzpEnv, payload: bytes) -> list[dict[str, object]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(str(env.runtime_dir / "hub.sock"))
        # the hub closes a connection after an oversize line; its reply is still buffered
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        data = b""
        while data.count(b"\n") < payload.count(b"\n") or not data:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def test_hub_rejects_bad_messages_and_stays_up(daemon: WzpEnv) -> None:
    replies = _raw(
        daemon,
        b'{not json\n{"type":"nope","id":"u1"}\n[1,2]\n'
        b'{"type":"process.stop","id":"s1"}\n{"type":"ping","id":"p"}\n',
    )
    codes = [r.get("error", {}).get("code") if not r["ok"] else "ok" for r in replies]  # type: ignore[union-attr]
    assert codes == ["bad_json", "unknown_type", "bad_request", "bad_request", "ok"]
    assert replies[1]["id"] == "u1"
    big = b'{"type":"ping","pad":"' + b"x" * (2 * 1024 * 1024) + b'"}\n'
    replies = _raw(daemon, big)
    assert replies[0]["ok"] is False
    assert replies[0]["error"]["code"] == "too_large"  # type: ignore[index]
    assert daemon.wzp("ping").returncode == 0


def test_bad_input_errors_and_exit_codes(daemon: WzpEnv) -> None:
    missing = daemon.wzp(
        "workspace", "create", "demo", "--template", "nope", "--dir", str(daemon.work)
    )
    assert missing.returncode == 1
    assert "unknown template 'nope'" in missing.stderr
    for bad in ("Bad", "a/b", "..", "x" * 200):
        result = daemon.wzp("workspace", "create", bad, "--dir", str(daemon.work))
        assert result.returncode == 1, bad
        assert "name" in result.stderr.lower()
    result = daemon.wzp("restart", "ghost/agent")
    assert result.returncode == 1
    assert "ghost/agent" in result.stderr
    result = daemon.wzp("workspace", "create", "x", "--dir", str(daemon.root / "absent"))
    assert result.returncode != 0
    daemon.wzp("down", check=True)
    result = daemon.wzp("status")
    assert result.returncode == 3
    assert "wzp up" in result.stderr


def test_limits_are_enforced(wzp_env: WzpEnv) -> None:
    agents = "".join(
        pane(f"a{i}", pos, SLEEP, agent="claude")
        for i, pos in enumerate(("top_left", "top_right", "bottom_left"))
    )
    wzp_env.write_config(config_with(agents))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "one", "--dir", str(wzp_env.work), check=True)
    result = wzp_env.wzp("workspace", "create", "two", "--dir", str(wzp_env.work))
    assert result.returncode == 1
    assert "max_instances is 4" in result.stderr


def test_max_workspaces(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(config_with(pane("a", "top_left", SLEEP)))
    wzp_env.wzp("up", check=True)
    for i in range(3):
        wzp_env.wzp("workspace", "create", f"w{i}", "--dir", str(wzp_env.work), check=True)
    result = wzp_env.wzp("workspace", "create", "w3", "--dir", str(wzp_env.work))
    assert result.returncode == 1
    assert "max_workspaces is 3" in result.stderr
    wzp_env.wzp("workspace", "delete", "w0", check=True)
    wzp_env.wzp("workspace", "create", "w3", "--dir", str(wzp_env.work), check=True)


def test_plain_circusctl_talks_to_our_arbiter(daemon: WzpEnv) -> None:
    endpoint = f"ipc://{daemon.runtime_dir / 'circus.sock'}"
    circusctl = Path(sys.executable).parent / "circusctl"
    import subprocess

    result = subprocess.run(
        [str(circusctl), "--endpoint", endpoint, "--timeout", "10", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        env=daemon.env,
    )
    assert result.returncode == 0, result.stderr
    mode = (daemon.runtime_dir / "circus.sock").stat().st_mode & 0o777
    assert mode == 0o600
    assert (daemon.runtime_dir / "hub.sock").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["layout"])
def test_layout_json_for_template_and_workspace(wzp_env: WzpEnv, kind: str) -> None:
    result = wzp_env.wzp("layout", "default", "--json", "--dir", str(wzp_env.work), check=True)
    plan = json.loads(result.stdout)
    assert [p["pane"] for p in plan["panes"]] == ["agent-1", "agent-2", "monitor"]
    assert plan["panes"][1]["split_from"] == "agent-1"
    assert plan["panes"][0]["command"][-2:] == ["attach", "default/agent-1"]

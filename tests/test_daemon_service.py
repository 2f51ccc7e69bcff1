"""The daemon as a service: sd_notify, SIGTERM, SIGHUP and reload (issue #7), end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import WzpEnv
from tests.test_daemon import SLEEP, config_with, pane, running_pid

GRACEFUL = (
    "import signal, sys, time\n"
    "def bye(*_):\n"
    "    open('graceful', 'w').write('yes')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "time.sleep(10000)\n"
)


def test_sd_notify_ready_status_watchdog_and_graceful_sigterm(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(config_with(pane("a1", "top_left", GRACEFUL)))
    notify_path = wzp_env.root / "notify.sock"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(notify_path))
    sink.settimeout(20)
    env = {**wzp_env.env, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "400000"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wzp_supervisor", "daemon"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        messages: list[str] = []

        def receive_until(pred: str) -> None:
            while not any(pred in m for m in messages):
                messages.append(sink.recv(4096).decode())

        receive_until("READY=1")
        wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
        running_pid(wzp_env, "demo/a1")
        receive_until("STATUS=")
        before = sum(m.count("WATCHDOG=1") for m in messages)
        for _ in range(3):
            messages.append(sink.recv(4096).decode())
        assert sum(m.count("WATCHDOG=1") for m in messages) > before
        # the agent must not inherit the notify socket
        agent = wzp_env.process("demo/a1")
        import psutil

        children = psutil.Process(agent["pid"]).children(recursive=True)
        assert children
        assert all("NOTIFY_SOCKET" not in c.environ() for c in children)
        daemon.send_signal(signal.SIGTERM)
        receive_until("STOPPING=1")
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sink.close()
    assert (wzp_env.work / "graceful").read_text() == "yes"
    state = json.loads((wzp_env.state_dir / "state.json").read_text())
    assert state["processes"]["demo/a1"]["desired"] == "running"
    assert state["processes"]["demo/a1"]["pid"] is None


def test_reload_restarts_only_changed_agents(wzp_env: WzpEnv) -> None:
    first = pane("a1", "top_left", SLEEP) + pane("a2", "top_right", SLEEP)
    wzp_env.write_config(config_with(first))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    a1 = running_pid(wzp_env, "demo/a1")
    a2 = running_pid(wzp_env, "demo/a2")
    changed = (
        pane("a1", "top_left", SLEEP)
        + pane("a2", "top_right", SLEEP + "  # changed")
        + pane("a3", "bottom_left", SLEEP)
    )
    wzp_env.write_config(config_with(changed))
    result = wzp_env.wzp("reload", "--wait", check=True)
    assert "demo/a2" in result.stdout
    assert running_pid(wzp_env, "demo/a1") == a1
    assert running_pid(wzp_env, "demo/a2") != a2
    running_pid(wzp_env, "demo/a3")
    # SIGHUP is the same reload: dropping a3 stops it
    wzp_env.write_config(config_with(changed.replace(pane("a3", "bottom_left", SLEEP), "")))
    pid = wzp_env.daemon_pid()
    assert pid
    os.kill(pid, signal.SIGHUP)
    wzp_env.wait_for(
        lambda: all(p["target"] != "demo/a3" for p in wzp_env.status()["processes"]),
        what="a3 removed",
    )
    assert running_pid(wzp_env, "demo/a1") == a1


def test_reload_with_broken_config_keeps_everything_running(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(config_with(pane("a1", "top_left", SLEEP)))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    a1 = running_pid(wzp_env, "demo/a1")
    path = wzp_env.write_config(
        config_with(pane("a1", "top_left", SLEEP), extra="    restart_policy: sometimes")
    )
    result = wzp_env.wzp("reload", "--wait")
    assert result.returncode == 1
    assert str(path) in result.stderr
    assert "restart_policy" in result.stderr
    time.sleep(0.5)
    assert running_pid(wzp_env, "demo/a1") == a1
    assert wzp_env.wzp("ping").returncode == 0

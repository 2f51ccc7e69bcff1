"""Holders take a lost daemon calmly: no exit, no blocking write; the agent keeps running,
logging and serving attach clients while no daemon runs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from tests.conftest import WzpEnv
from tests.session_support import PtyProcess, SessionEnv, session_env, wait_for
from tests.test_daemon import config_with, pane, start
from wzp_supervisor import paths
from wzp_supervisor.session import control

TICKER = (
    "import itertools, sys, threading, time\n"
    "def tick():\n"
    "    for i in itertools.count():\n"
    "        print(f'tick {i}', flush=True)\n"
    "        time.sleep(0.2)\n"
    "threading.Thread(target=tick, daemon=True).start()\n"
    "for line in sys.stdin:\n"
    "    print('got ' + line.strip(), flush=True)\n"
)


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full and whose write end blocks, like an unread daemon pipe."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 4096)
    os.set_blocking(write_end, True)
    return read_end, write_end


@pytest.mark.parametrize("pipe", ["full", "broken"])
def test_holder_never_blocks_or_dies_writing_toward_the_daemon(senv: SessionEnv, pipe: str) -> None:
    read_end, write_end = full_pipe() if pipe == "full" else os.pipe()
    if pipe == "broken":
        os.close(read_end)
    cmd = [
        sys.executable, "-m", "wzp_supervisor.session.holder", "--target", "t/a",
        "--socket", str(senv.socket("t/a")), "--log", str(senv.log("t/a")),
        "--", "/nonexistent/program",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=senv.env, stdout=write_end, stderr=write_end)
    os.close(write_end)
    try:
        assert proc.wait(20) == 127
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if pipe == "full":
            os.close(read_end)
    assert "cannot start" in senv.log("t/a").read_text()


def test_agents_live_on_and_serve_while_no_daemon_runs(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("tick", "top_left", TICKER)))
    wzp_env.wait_for(lambda: wzp_env.process("demo/tick")["state"] == "running", what="running")
    sock = paths.session_socket("demo", "tick")
    agent = wzp_env.wait_for(lambda: control.info(sock)["agent_pid"], what="the holder")
    holder = control.info(sock)["pid"]
    daemon = wzp_env.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    wzp_env.wait_for(lambda: not psutil.pid_exists(daemon), what="the daemon to die")
    log = paths.pane_log("demo", "tick")
    size = log.stat().st_size
    wzp_env.wait_for(lambda: log.stat().st_size > size + 200, what="the log to keep growing")
    assert psutil.Process(holder).is_running()
    assert control.info(sock)["agent_pid"] == agent
    view = PtyProcess([sys.executable, "-m", "wzp_supervisor", "attach", "demo/tick"], wzp_env.env)
    try:
        view.expect(rb"tick \d+")
        view.write(b"hello-$((6*7))\r")
        view.expect(rb"got hello-\$\(\(6\*7\)\)")
        result = wzp_env.wzp("send", "demo/tick", "sent-while-alone", "--enter")
        assert result.returncode == 0, result.stderr
        view.expect(rb"got sent-while-alone")
    finally:
        view.close()
    wait_for(lambda: control.info(sock)["attachers"] == 0, "the view to leave")
    assert control.info(sock)["agent_pid"] == agent
    assert psutil.Process(agent).is_running()

"""Nothing an agent started outlives it: leftovers end with the agent, and a new holder ends
the agent of a holder that was SIGKILLed before it starts its own."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.session_support import SessionEnv, session_env, wait_for
from wzp_supervisor.session import control


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    env = session_env(monkeypatch)
    yield next(env)
    next(env, None)


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Pids the test saw; any still alive at the end are killed."""
    seen: list[int] = []
    yield seen
    for pid in seen:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pid_in(path: Path, pids: list[int]) -> int:
    text = wait_for(lambda: path.exists() and path.read_text().strip(), f"a pid in {path}")
    pid = int(text)
    pids.append(pid)
    return pid


def test_a_backgrounded_child_ends_with_the_agent(senv: SessionEnv, pids: list[int]) -> None:
    record = senv.root / "child"
    script = f"trap '' HUP; sleep 1000 & echo $! > {record}; exit 3"
    proc = senv.start_holder("t/a", ["sh", "-c", script], wait=False)
    child = pid_in(record, pids)
    assert proc.wait(20) == 3
    wait_for(lambda: gone(child), "the backgrounded child to end")


def test_a_double_forked_grandchild_ends_with_the_agent(senv: SessionEnv, pids: list[int]) -> None:
    record = senv.root / "grandchild"
    inner = f"trap '' HUP TERM; echo $$ > {record}; exec sleep 1000"
    script = f"setsid -f sh -c {shlex.quote(inner)}; exec sleep 1000"
    proc = senv.start_holder("t/a", ["sh", "-c", script])
    grandchild = pid_in(record, pids)
    assert os.getsid(grandchild) != os.getsid(senv.children[-1])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == -signal.SIGTERM
    wait_for(lambda: gone(grandchild), "the setsid grandchild to end")


STUBBORN = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    inner = "trap '' HUP TERM; echo $$ > " + sys.argv[1] + "; exec sleep 1000"
    subprocess.run(["setsid", "-f", "sh", "-c", inner], check=True)
    print("READY", flush=True)
    while True:
        time.sleep(1000)
    """
)


def test_a_new_holder_ends_the_agent_of_a_killed_one(senv: SessionEnv, pids: list[int]) -> None:
    record = senv.root / "grandchild"
    first = senv.start_holder("t/a", [sys.executable, "-c", STUBBORN, str(record)])
    old_agent = senv.children[-1]
    pids.append(old_agent)
    grandchild = pid_in(record, pids)
    senv.wait_screen("t/a", "READY")
    first.kill()
    first.wait(10)
    assert not gone(old_agent)  # the agent ignores the hangup: without care it lives on
    senv.start_holder("t/a", ["sleep", "1000"])
    new_agent = senv.children[-1]
    assert new_agent != old_agent
    wait_for(lambda: gone(old_agent), "the old agent to end")
    wait_for(lambda: gone(grandchild), "the old agent's grandchild to end")
    assert not gone(new_agent)
    assert control.info(senv.socket("t/a"))["agent_pid"] == new_agent


def test_the_agent_record_sits_next_to_the_socket(senv: SessionEnv) -> None:
    proc = senv.start_holder("t/a", ["sh", "-c", "read x; exit 6"])
    agent = senv.children[-1]
    path = senv.socket("t/a").with_suffix(".agent")
    data = json.loads(path.read_text())
    assert data["target"] == "t/a"
    assert data["holder_pid"] == proc.pid
    assert data["agent_pid"] == agent
    assert data["agent_create_time"] == pytest.approx(psutil.Process(agent).create_time(), abs=0.02)
    assert data["last_exit"] is None
    assert (path.stat().st_mode & 0o777) == 0o600
    control.send_text(senv.socket("t/a"), "go", enter=True)
    assert proc.wait(20) == 6
    last = json.loads(path.read_text())["last_exit"]
    assert (last["code"], last["signal"]) == (6, None)
    assert last["time"] >= data["agent_started_at"]

"""The session holder with real PTYs, processes and sockets: status, signals, send, peek."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.session_support import SessionEnv, session_env, stale_socket, wait_for
from wzp_supervisor.session import control

# Raw-mode program that records every byte it receives (and may enable bracketed paste).
RECORDER = textwrap.dedent(
    """
    import os, sys, tty
    tty.setraw(0)
    if sys.argv[2] == "paste":
        os.write(1, b"\\x1b[?2004h")
    os.write(1, b"READY\\r\\n")
    with open(sys.argv[1], "ab", buffering=0) as out:
        while data := os.read(0, 4096):
            out.write(data)
    """
)


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def finish(proc: subprocess.Popen[bytes]) -> int:
    """Return code of a holder, bounded."""
    return proc.wait(20)


@pytest.mark.parametrize(
    ("script", "expected"),
    [("exit 7", 7), ("exit 0", 0), ("kill -TERM $$", -signal.SIGTERM), ("kill -KILL $$", -9)],
)
def test_exit_status_is_propagated(senv: SessionEnv, script: str, expected: int) -> None:
    proc = senv.start_holder("t/a", ["sh", "-c", script], wait=False)
    assert finish(proc) == expected
    assert not senv.socket("t/a").exists()


def test_socket_is_private_and_env_is_set(senv: SessionEnv, tmp_path: Path) -> None:
    work = tmp_path / "work dir"
    work.mkdir()
    senv.env.pop("TERM", None)
    senv.start_holder(
        "t/a",
        ["sh", "-c", 'echo "cwd=$(pwd) term=$TERM nofile=$(ulimit -n)"; exec sleep 60'],
        "--cwd", str(work), "--rlimit", "nofile=77", cols=300,
    )  # fmt: skip
    path = senv.socket("t/a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    screen = senv.wait_screen("t/a", "nofile=")
    assert f"cwd={work} term=xterm-256color nofile=77" in screen


def test_sigterm_is_forwarded_to_the_process_group(senv: SessionEnv) -> None:
    script = "trap 'echo got-term; exit 5' TERM; echo trap-set; sleep 60 & wait"
    proc = senv.start_holder("t/a", ["bash", "-c", script])
    child = senv.children[-1]
    # a SIGTERM before bash has run `trap` would kill it outright
    wait_for(lambda: "trap-set" in senv.log("t/a").read_text(), "the trap to be set")
    proc.send_signal(signal.SIGTERM)
    assert finish(proc) == 5
    assert "got-term" in senv.log("t/a").read_text()
    wait_for(lambda: group_gone(child), "the program's process group to end")


def group_gone(pgid: int) -> bool:
    """No live (non-zombie) process is left in process group ``pgid``."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return False
        except (ProcessLookupError, psutil.Error):
            continue
    return True


def test_stale_socket_is_replaced_and_live_one_refused(senv: SessionEnv) -> None:
    path = senv.socket("t/a")
    stale_socket(path)
    result = senv.wzp("peek", "t/a")
    assert result.returncode == 1
    assert b"not running" in result.stderr
    senv.start_holder("t/a", ["sleep", "60"])
    second = senv.start_holder("t/a", ["sleep", "60"], wait=False)
    assert finish(second) == 1
    assert second.stderr is not None
    assert b"another holder is serving" in second.stderr.read()
    assert control.info(path)["target"] == "t/a"


def test_program_that_cannot_start(senv: SessionEnv) -> None:
    proc = senv.start_holder("t/a", ["/nonexistent/program"], wait=False)
    assert finish(proc) == 127
    assert "cannot start" in senv.log("t/a").read_text()
    assert not senv.socket("t/a").exists()


@pytest.mark.parametrize("mode", ["paste", "plain"])
def test_send_uses_bracketed_paste_when_enabled(senv: SessionEnv, mode: str) -> None:
    record = senv.root / "received"
    senv.start_holder("t/a", [sys.executable, "-c", RECORDER, str(record), mode])
    senv.wait_screen("t/a", "READY")
    reply = control.send_text(senv.socket("t/a"), "hello\nworld", enter=True)
    assert reply["bracketed_paste"] is (mode == "paste")
    expected = b"\x1b[200~hello\nworld\x1b[201~\r" if mode == "paste" else b"hello\nworld\r"
    wait_for(lambda: record.exists() and record.read_bytes() == expected, "the text")
    result = senv.wzp("send", "t/a", "more")
    assert result.returncode == 0, result.stderr
    wait_for(
        lambda: (
            record.read_bytes().endswith(expected[-1:] + b"\x1b[200~more\x1b[201~")
            if mode == "paste"
            else record.read_bytes().endswith(b"\rmore")
        ),
        "the CLI text",
    )


def test_peek_shows_the_screen(senv: SessionEnv) -> None:
    script = "printf 'one\\ntwo\\n\\033[1mthree\\033[0m\\n'; exec sleep 60"
    senv.start_holder("t/a", ["sh", "-c", script])
    senv.wait_screen("t/a", "three")
    result = senv.wzp("peek", "t/a", "--lines", "2")
    assert result.returncode == 0
    assert result.stdout.decode() == "two\nthree\n"
    as_json = senv.wzp("peek", "t/a", "--json")
    assert b'"lines": [\n    "one",\n    "two",\n    "three"\n  ]' in as_json.stdout
    snap = control.peek(senv.socket("t/a"))
    assert (snap.cols, snap.rows, snap.cursor) == (80, 24, (0, 3))


def test_unknown_targets_fail_clearly(senv: SessionEnv) -> None:
    for args in (("attach", "no/such"), ("send", "no/such", "x"), ("peek", "no/such")):
        result = senv.wzp(*args)
        assert result.returncode == 1, args
        assert b"no session no/such is running" in result.stderr
    assert senv.wzp("peek", "not-a-target").returncode == 2
    result = senv.wzp("logs", "no/such")
    assert result.returncode == 1
    assert b"no log for no/such" in result.stderr


def test_claude_agent_argv_and_notes(senv: SessionEnv) -> None:
    session_file = senv.root / "agent.id"
    session_file.write_text("0b5e7a8e-3f0c-4c9e-9d55-2b9a3c0d1e2f\n")
    env_home = senv.root / "home"
    env_home.mkdir()
    senv.env["HOME"] = str(env_home)
    senv.env["CLAUDE_CONFIG_DIR"] = str(env_home / ".claude")
    printer = "import sys; print(' '.join(sys.argv[1:3])); import time; time.sleep(60)"
    senv.start_holder(
        "t/a", [sys.executable, "-c", printer],
        "--agent", "claude", "--session-file", str(session_file), cols=400,
    )  # fmt: skip
    screen = senv.wait_screen("t/a", "--session-id")
    assert "--session-id 0b5e7a8e-3f0c-4c9e-9d55-2b9a3c0d1e2f" in screen
    note = screen.splitlines()[0]  # launch_argv's "no transcript … starting fresh" line
    assert "transcript" in note
    assert note in senv.log("t/a").read_text()

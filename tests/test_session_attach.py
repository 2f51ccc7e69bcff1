"""`wzp attach` in real PTYs against holders running bash: keys, resize, several attachers,
detach, redraw for late attachers, a 10 MB burst, and reconnecting after a restart."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import pytest

from tests.session_support import SessionEnv, session_env, wait_for
from wzp_supervisor.session import control

BASH = ["bash", "--norc", "--noprofile", "-i"]


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    senv_env = session_env(monkeypatch)
    env = next(senv_env)
    env.env["PS1"] = "$ "
    yield env
    next(senv_env, None)


def test_type_and_see(senv: SessionEnv) -> None:
    senv.start_holder("t/a", BASH)
    view = senv.attach("t/a")
    view.expect(rb"\$")
    view.write(b"echo hi-$((40+2))\r")
    view.expect(rb"hi-42")


def test_resize_reaches_the_program(senv: SessionEnv) -> None:
    senv.start_holder("t/a", BASH)
    view = senv.attach("t/a", cols=80, rows=24)
    view.expect(rb"\$")
    view.write(b"stty size\r")
    start = view.expect(rb"24 80")
    view.resize(100, 30)
    wait_for(lambda: control.info(senv.socket("t/a"))["cols"] == 100, "the PTY to resize")
    view.write(b"stty size\r")
    view.expect(rb"30 100", start)


def test_two_attachers_and_latest_size_wins(senv: SessionEnv) -> None:
    senv.start_holder("t/a", BASH)
    first = senv.attach("t/a", cols=90, rows=20)
    first.expect(rb"\$")
    second = senv.attach("t/a", cols=70, rows=25)
    second.expect(rb"\$")
    wait_for(lambda: control.info(senv.socket("t/a"))["attachers"] == 2, "two attachers")
    first.write(b"echo both-$((6*7)); stty size\r")
    first.expect(rb"both-42\s+20 90")
    second.expect(rb"both-42\s+20 90")
    second.write(b"stty size\r")
    second.expect(rb"25 70")


def test_detach_leaves_the_program_running(senv: SessionEnv) -> None:
    senv.start_holder("t/a", BASH)
    pid = senv.children[-1]
    view = senv.attach("t/a")
    view.expect(rb"\$")
    view.write(b"\x1d")
    view.expect(rb"\[detached from t/a\]")
    assert view.wait() == 0
    os.kill(pid, 0)
    assert control.info(senv.socket("t/a"))["attachers"] == 0
    custom = senv.attach("t/a", "--detach-key", "ctrl+q")
    custom.expect(rb"\$")
    custom.write(b"\x1d\x11")
    assert custom.wait() == 0
    os.kill(pid, 0)


def test_late_attacher_gets_the_current_screen(senv: SessionEnv) -> None:
    senv.start_holder("t/a", BASH)
    senv.wait_screen("t/a", "$")
    control.send_text(
        senv.socket("t/a"),
        "echo late-$((2*21)) && printf '\\033[1;32mgreen\\033[0m\\n'",
        enter=True,
    )
    senv.wait_screen("t/a", "green")
    view = senv.attach("t/a")
    view.expect(rb"late-42")
    view.expect(rb"\x1b\[0;1;32mgreen")


def test_ten_megabyte_burst_arrives_intact(senv: SessionEnv) -> None:
    blob = base64.encodebytes(os.urandom(7_500_000))  # ~10 MB of 76-char lines
    source = senv.root / "blob"
    source.write_bytes(b"--BEGIN--\n" + blob + b"--END--\n")
    expected = hashlib.sha256(blob.replace(b"\n", b"\r\n")).hexdigest()
    senv.start_holder("t/a", ["sh", "-c", f"read go; cat {source}; exec sleep 60"])
    view = senv.attach("t/a")
    wait_for(lambda: control.info(senv.socket("t/a"))["attachers"] == 1, "the attacher")
    view.write(b"\r")
    start = view.expect(rb"--BEGIN--\r\n")
    end = view.expect(rb"--END--\r\n", start, timeout=120)
    received = bytes(view.output[start : end - len(b"--END--\r\n")])
    assert len(received) == len(blob.replace(b"\n", b"\r\n"))
    assert hashlib.sha256(received).hexdigest() == expected


def test_reconnects_after_the_program_restarts(senv: SessionEnv) -> None:
    holder = senv.start_holder("t/a", BASH)
    view = senv.attach("t/a")
    view.expect(rb"\$")
    view.write(b"exit 3\r")
    start = view.expect(rb"a exited \(code 3\); waiting for restart")
    assert holder.wait(20) == 3
    senv.start_holder("t/a", BASH)
    view.expect(rb"\$", start)
    view.write(b"echo back-$((1+1))\r")
    view.expect(rb"back-2", start)
    assert view.proc.poll() is None

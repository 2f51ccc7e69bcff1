"""What `wzp attach` tells the user's terminal: the wzp_target user var, and a clean detach."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.session_support import SessionEnv, session_env, wait_for
from wzp_supervisor.session import control

SET = b"\x1b]1337;SetUserVar=wzp_target=" + base64.b64encode(b"t/a") + b"\x07"
CLEAR = b"\x1b]1337;SetUserVar=wzp_target=\x07"
FULL_SCREEN = "printf '\\033[?1049h\\033[?25l\\033[5;5HALT-READY'; exec sleep 1000"


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def test_attach_sets_the_target_and_detach_restores_then_clears(senv: SessionEnv) -> None:
    senv.start_holder("t/a", ["sh", "-c", FULL_SCREEN])
    senv.wait_screen("t/a", "ALT-READY")
    view = senv.attach("t/a", cols=80, rows=24)
    view.expect(rb"ALT-READY")
    out = bytes(view.output)
    assert SET in out
    assert out.index(SET) < out.index(b"ALT-READY")
    wait_for(lambda: control.info(senv.socket("t/a"))["attachers"] == 1, "the attacher")
    mark = len(view.output)
    view.write(b"\x1d")
    view.expect(rb"\[detached from t/a\]", mark)
    assert view.wait() == 0
    tail = bytes(view.output[mark:])
    line = tail.index(b"[detached from t/a]")
    leave, show, below = (
        tail.find(b"\x1b[?1049l"),
        tail.find(b"\x1b[?25h"),
        tail.find(b"\x1b[24;1H"),
    )
    assert 0 <= leave < line and 0 <= show < line and leave < below < line, tail
    assert CLEAR in tail and tail.index(CLEAR) < line
    assert SET not in tail


def test_quitting_the_terminal_clears_the_target(senv: SessionEnv) -> None:
    senv.start_holder("t/a", ["sh", "-c", "echo PLAIN-READY; exec sleep 1000"])
    senv.wait_screen("t/a", "PLAIN-READY")
    view = senv.attach("t/a")
    view.expect(rb"PLAIN-READY")
    assert SET in bytes(view.output)
    mark = len(view.output)
    wait_for(lambda: control.info(senv.socket("t/a"))["attachers"] == 1, "the attacher")
    view.proc.terminate()
    view.read_to_eof(timeout=10)
    view.wait()
    assert CLEAR in bytes(view.output[mark:])

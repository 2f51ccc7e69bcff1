"""The holder's ``info`` request: what a daemon needs to verify and adopt a running holder."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from tests.session_support import SessionEnv, session_env
from wzp_supervisor.session import control, wire

SESSION_ID = "0b5e7a8e-3f0c-4c9e-9d55-2b9a3c0d1e2f"


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def test_info_describes_holder_agent_and_screen(senv: SessionEnv) -> None:
    before = time.time()
    proc = senv.start_holder("t/a", ["sleep", "1000"], cols=100, rows=30)
    info = control.info(senv.socket("t/a"))
    agent = senv.children[-1]
    assert info["protocol"] == wire.PROTOCOL_VERSION
    assert info["target"] == "t/a"
    assert info["pid"] == proc.pid
    assert info["agent_pid"] == info["child_pid"] == agent
    assert info["agent_create_time"] == pytest.approx(psutil.Process(agent).create_time(), abs=0.02)
    assert before <= info["agent_started_at"] <= time.time()
    assert info["session_id"] is None
    assert info["last_exit"] is None
    assert (info["cols"], info["rows"]) == (100, 30)


def test_info_names_the_agent_session(senv: SessionEnv) -> None:
    session_file = senv.root / "agent.id"
    session_file.write_text(SESSION_ID + "\n")
    home = senv.root / "home"
    home.mkdir()
    senv.env["HOME"] = str(home)
    senv.env["CLAUDE_CONFIG_DIR"] = str(home / ".claude")
    senv.start_holder(
        "t/a", [sys.executable, "-c", "import time; time.sleep(1000)"],
        "--agent", "claude", "--session-file", str(session_file),
    )  # fmt: skip
    assert control.info(senv.socket("t/a"))["session_id"] == SESSION_ID
    assert os.path.exists(senv.socket("t/a"))

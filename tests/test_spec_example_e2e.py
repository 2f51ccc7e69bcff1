"""The specification's example config, verbatim, through `wzp up`, both templates and the hub
socket it names; the programs it lists are not installed, and wzp says so."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import REPO, WzpEnv
from tests.support import hub_line

EXAMPLE = REPO / "config" / "examples" / "spec.yaml"
SPEC_SOCKET = Path("/tmp/wezterm-parallel.sock")
SPEC_SOCKET_LOCK = Path("/tmp/wezterm-parallel.sock.test-lock")


@contextlib.contextmanager
def spec_socket_held() -> Iterator[None]:
    """Hold the example's fixed socket path for this test alone (another test run on this
    machine waits here instead of failing on a socket in use)."""
    with open(SPEC_SOCKET_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def seed_request(path: Path, message: dict[str, Any]) -> dict[str, Any]:
    return hub_line(path, json.dumps(message).encode())


def test_the_example_runs_as_written(wzp_env: WzpEnv) -> None:
    with spec_socket_held():
        run_the_example(wzp_env)


def run_the_example(wzp_env: WzpEnv) -> None:
    wzp_env.config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE, wzp_env.config_dir / "config.yaml")
    empty_path = wzp_env.root / "bin"  # none of claude-code, htop, npm, tail is found here
    empty_path.mkdir()
    wzp_env.env["PATH"] = str(empty_path)
    wzp_env.env.pop("CLAUDE_API_KEY", None)
    up = wzp_env.wzp("up")
    assert up.returncode == 0, up.stderr
    config_file = wzp_env.config_dir / "config.yaml"
    assert f"{config_file}:" in up.stderr and "claude-code: not found on PATH" in up.stderr
    assert "ANTHROPIC_API_KEY" in up.stderr  # CLAUDE_API_KEY is not what Claude Code reads
    try:
        for workspace, template, panes in (
            ("w", "default", {"left", "center", "right"}),
            ("web", "web_dev", {"top_left", "top_right", "bottom_left", "bottom_right"}),
        ):
            created = wzp_env.wzp(
                "workspace", "create", workspace, "--template", template, "--dir", str(wzp_env.work)
            )
            assert created.returncode == 0, created.stderr
            targets = {f"{workspace}/{pane}" for pane in panes}

            def all_reported(targets: set[str] = targets) -> list[dict[str, Any]] | None:
                procs = [p for p in wzp_env.status()["processes"] if p["target"] in targets]
                if {p["target"] for p in procs} != targets:
                    return None
                return procs if all("not found on PATH" in p["reason"] for p in procs) else None

            procs = wzp_env.wait_for(all_reported, what=f"{template}: every pane's reason")
            assert {p["state"] for p in procs} <= {"backoff", "fatal", "starting"}
        text = wzp_env.wzp("status", check=True).stdout
        assert "claude-code: not found on PATH" in text and "htop: not found on PATH" in text
        # the hub also answers at the socket the example names, in the example's own form
        reply = seed_request(
            SPEC_SOCKET, {"BroadcastMessage": {"content": "hello", "sender": "spec"}}
        )
        answer = reply["BroadcastMessage"]
        assert "error" not in answer, answer
        assert answer["content"] == "hello" and answer["delivered"] == []  # no Claude agent
        assert SPEC_SOCKET.stat().st_mode & 0o077 == 0
    finally:
        wzp_env.wzp("down", timeout=60)
    assert not SPEC_SOCKET.exists()

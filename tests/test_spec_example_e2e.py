"""The specification's example config, verbatim, through `wzp up`, both templates and the hub
socket it names; the programs it lists are not installed, and wzp says so."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

from tests.conftest import REPO, WzpEnv

EXAMPLE = REPO / "config" / "examples" / "spec.yaml"
SPEC_SOCKET = Path("/tmp/wezterm-parallel.sock")


def seed_request(path: Path, message: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


def test_the_example_runs_as_written(wzp_env: WzpEnv) -> None:
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

"""`wzp reload` over a real Unix socket, and the help texts that stand in for a man page."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from wzp_supervisor.cli import service_cmds


def wzp(*args: str) -> Result:
    @click.group()
    def root() -> None:
        pass

    service_cmds.register(root)
    return CliRunner().invoke(root, list(args))


class FakeHub:
    """Answers each NDJSON request on a Unix socket with a canned reply; records requests."""

    def __init__(self, path: Path, reply: dict[str, Any]) -> None:
        self.path = path
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                line = stream.readline()
                if not line:
                    continue
                request = json.loads(line)
                self.requests.append(request)
                answer = {"v": 1, "id": request["id"], **self.reply}
                stream.write(json.dumps(answer).encode() + b"\n")
                stream.flush()

    def close(self) -> None:
        self.server.close()


@pytest.fixture()
def hub_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hub.sock"
    monkeypatch.setenv("WZP_HUB_SOCKET", str(path))
    return path


@pytest.fixture()
def ok_hub(hub_path: Path) -> Iterator[FakeHub]:
    hub = FakeHub(hub_path, {"ok": True, "restarted": ["demo/agent-2"], "changed": ["demo"]})
    yield hub
    hub.close()


def test_reload_wait_sends_reload_and_reports(ok_hub: FakeHub) -> None:
    result = wzp("reload", "--wait")
    assert result.exit_code == 0, result.output
    assert ok_hub.requests[0]["type"] == "reload"
    assert ok_hub.requests[0]["wait"] is True
    assert result.output == "reloaded (changed: demo; restarted: demo/agent-2)\n"
    result = wzp("reload")
    assert result.exit_code == 0
    assert ok_hub.requests[1]["wait"] is False
    assert result.output == "reload requested\n"


def test_reload_rejected_config_exits_1(hub_path: Path) -> None:
    message = "config.yaml:7: workspaces.templates.x.layout: unknown layout 'tri'"
    hub = FakeHub(hub_path, {"ok": False, "error": {"code": "invalid", "message": message}})
    try:
        result = wzp("reload", "--wait")
    finally:
        hub.close()
    assert result.exit_code == 1
    assert f"reload failed (invalid): {message}" in result.output


def test_reload_without_daemon_exits_3(hub_path: Path) -> None:
    result = wzp("reload", "--wait")
    assert result.exit_code == 3
    assert "wzp up" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["service", "--help"], ["systemd", "launchd", "install --now", "uninstall"]),
        (
            ["service", "install", "--help"],
            ["--now", "--dry-run", "--force", "enable-linger", "daemon-reload", "bootstrap"],
        ),
        (["service", "uninstall", "--help"], ["--dry-run", "disable --now", "bootout"]),
        (["service", "status", "--help"], ["systemctl --user status", "launchctl print", "3"]),
        (["service", "logs", "--help"], ["--follow", "--lines", "journalctl"]),
        (["reload", "--help"], ["--wait", "SIGHUP", "file, line"]),
    ],
)
def test_help_texts(args: list[str], words: list[str]) -> None:
    result = wzp(*args)
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # help is re-wrapped to the terminal width
    for word in words:
        assert word in text, word
    assert "--platform" not in result.output


def test_registered_on_the_real_root_group() -> None:
    from wzp_supervisor.cli import main

    assert "service" in main.commands
    assert "reload" in main.commands

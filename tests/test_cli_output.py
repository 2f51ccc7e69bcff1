"""Text from agents, hooks and prompts reaches the terminal with its control characters
escaped: no escape sequence that did not come from wzp itself is ever printed.

A real daemon runs a fake Claude agent (``agent: claude``); a PermissionRequest hook sent
through ``wzp hook`` carries OSC 52 (clipboard), OSC 0 (title) and ED (clear screen).
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from typing import Any

import pytest
from rich.console import Console

from tests.conftest import WzpEnv
from tests.test_tasks import start_agents, wait_agent
from wzp_supervisor import protocol
from wzp_supervisor.cli.dashboard import Dashboard
from wzp_supervisor.cli.printable import printable

EVIL = "\x1b]52;c;AAAA\x07\x1b]0;OWNED\x07\x1b[2J"
SHOWN = "\\x1b]52;c;AAAA\\x07\\x1b]0;OWNED\\x07\\x1b[2J"
RAW = ("\x1b", "\x07", "\x9b")


def clean(text: str) -> None:
    """No raw control character but newline (and none of the C1 ones)."""
    for char in RAW:
        assert char not in text, repr(text)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in text), repr(text)


def test_a_permission_request_with_escapes_is_shown_escaped(wzp_env: WzpEnv) -> None:
    (agent,) = start_agents(wzp_env, 1)
    payload = {
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash",
        "tool_input": {"command": EVIL},
    }
    hook = wzp_env.wzp(
        "hook", "PermissionRequest", input=json.dumps(payload), extra_env={"WZP_AGENT": agent}
    )
    assert hook.returncode == 0, hook.stderr
    wait_agent(wzp_env, agent, "waiting_input")

    for args in (("status",), ("status", "demo"), ("status", "--format", "table", "demo")):
        shown = wzp_env.wzp(*args, check=True).stdout
        clean(shown)
        assert SHOWN in shown, shown  # escaped, not dropped
    # JSON keeps the exact text (JSON escapes it)
    data = json.loads(wzp_env.wzp("status", "--json", check=True).stdout)
    assert EVIL in data["processes"][0]["agent_message"]

    events = wzp_env.wzp("events", "--limit", "200", check=True).stdout
    clean(events)
    assert "OWNED" in events

    board = Dashboard()
    board.refresh()
    console = Console(file=io.StringIO(), width=400, record=True, color_system=None)
    console.print(board.render())
    screen = console.export_text()
    clean(screen)
    assert "OWNED" in screen


def test_prompts_results_and_names_are_shown_escaped(wzp_env: WzpEnv) -> None:
    start_agents(wzp_env, 1)
    prompt = "please \x1b]0;OWNED\x07 and \x9b2J and \x08\x08 done"
    submitted = wzp_env.wzp("task", "submit", prompt, "--json", check=True)
    task_id = json.loads(submitted.stdout)["task"]["id"]

    listing = wzp_env.wzp("task", "list", check=True).stdout
    clean(listing)
    assert "\\x1b]0;OWNED\\x07" in listing
    show = wzp_env.wzp("task", "show", task_id, check=True).stdout
    clean(show)
    assert "\\x9b2J" in show and "\\x08\\x08" in show

    odd = wzp_env.work / "dir\x1b]0;OWNED\x07"
    odd.mkdir()
    created = wzp_env.wzp("workspace", "create", "odd", "--dir", str(odd), check=True).stdout
    clean(created)
    assert "dir\\x1b]0;OWNED\\x07" in created
    listing = wzp_env.wzp("workspace", "list", check=True).stdout
    clean(listing)
    assert "dir\\x1b]0;OWNED\\x07" in listing

    missing = wzp_env.wzp("task", "show", "t\x1b]0;OWNED\x07")
    assert missing.returncode == 1
    clean(missing.stderr)


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓"
    assert printable(EVIL) == SHOWN
    assert printable("a\nb\tc\r\x7f\x85\x9b") == "a\\nb\\tc\\r\\x7f\\x85\\x9b"
    assert printable("a\nb\tc\r", multiline=True) == "a\nb\tc\\r"
    assert printable("bad\udcffbyte") == "bad\\udcffbyte"


# -- text that is not valid Unicode -----------------------------------------------------------


def _raw_request(env: WzpEnv, line: bytes) -> dict[str, Any]:
    """Send one raw line to the hub; return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(env.runtime_dir / "hub.sock"))
        sock.sendall(line)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
    answer: dict[str, Any] = json.loads(reply)
    return answer


def test_a_lone_surrogate_is_refused_and_breaks_nothing(daemon: WzpEnv) -> None:
    ok = daemon.wzp("task", "submit", "a fine prompt", "--json", check=True)
    assert json.loads(ok.stdout)["task"]["state"] == "queued"
    for line in (
        b'{"v":1,"id":"s1","type":"task.submit","prompt":"x\\ud800y"}\n',  # JSON escape
        b'{"v":1,"id":"s2","type":"task.submit","prompt":"x\xed\xa0\x80y"}\n',  # raw bytes
    ):
        reply = _raw_request(daemon, line)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "bad_request"
        assert "'prompt'" in reply["error"]["message"]
    nested = (
        b'{"v":1,"id":"s3","type":"status.update","agent":"demo/a1","event":"Stop",'
        b'"payload":{"tool_input":{"command":"\\udcff"}}}\n'
    )
    reply = _raw_request(daemon, nested)
    assert reply["ok"] is False and "'payload.tool_input.command'" in reply["error"]["message"]
    # a surrogate pair is fine: it is one character
    pair = b'{"v":1,"id":"s4","type":"task.submit","prompt":"emoji \\ud83d\\ude00"}\n'
    assert _raw_request(daemon, pair)["ok"] is True

    listing = daemon.wzp("task", "list", "--json", check=True)
    prompts = [t["prompt"] for t in json.loads(listing.stdout)["tasks"]]
    assert prompts == ["a fine prompt", "emoji \U0001f600"]


def test_task_submit_of_bytes_that_are_not_utf8_fails_cleanly(daemon: WzpEnv) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wzp_supervisor", "task", "submit", b"bad\xffbyte"],
        env=daemon.env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert b"Traceback" not in done.stderr
    assert b"'prompt'" in done.stderr and b"not valid" in done.stderr
    assert json.loads(daemon.wzp("task", "list", "--json", check=True).stdout)["tasks"] == []


def test_encode_never_raises_and_round_trips_a_lone_surrogate() -> None:
    line = protocol.encode({"v": 1, "type": "x", "prompt": "a\ud800b\\\udcffc"})
    assert json.loads(line) == {"v": 1, "type": "x", "prompt": "a\ud800b\\\udcffc"}
    with pytest.raises(protocol.ProtocolError, match="'prompt'"):
        protocol.decode_request(line)

"""``wzp hook EVENT`` (hookfast): one status.update to the hub, exit 0 whatever happens.

Every test runs the real command (``python -m wzp_supervisor hook …``) as a subprocess
against a real Unix socket. Timings are printed (``-s`` shows them), never asserted.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.claude_env import FakeHub, short_tmpdir
from wzp_supervisor.agents.claude import default_hook_prefix, fast_hook_prefix
from wzp_supervisor.cli import hook as hookfast

PREFIXES = {"default": default_hook_prefix(), "fast": fast_hook_prefix()}

STOP_PAYLOAD = {
    "session_id": "5eddd6f8-bdc2-4997-bbd4-6b4b4be198b7",
    "transcript_path": "/h/.claude/projects/-w/5eddd6f8-bdc2-4997-bbd4-6b4b4be198b7.jsonl",
    "cwd": "/w",
    "prompt_id": "79894e74-5f5d-485c-b884-d14e3d002377",
    "permission_mode": "default",
    "effort": {"level": "high"},
    "hook_event_name": "Stop",
    "stop_hook_active": False,
    "last_assistant_message": "stub reply: hello",
    "background_tasks": [],
}


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A short temp dir used as XDG_RUNTIME_DIR (and for sockets)."""
    with short_tmpdir("wzph-") as path:
        yield path


def _hub_path(runtime: Path) -> Path:
    return runtime / "wezterm-parallel" / "hub.sock"


def run_hook(
    event: str, stdin: bytes, runtime: Path, prefix: str = "default", **env: str
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """Run ``<prefix> hook EVENT`` (a key of PREFIXES); return the result and its wall time."""
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(runtime),
        "XDG_RUNTIME_DIR": str(runtime),
        "WZP_AGENT": "demo/agent-1",
        **env,
    }
    environ = {k: v for k, v in environ.items() if v}
    start = time.monotonic()
    done = subprocess.run(
        [*PREFIXES[prefix], "hook", event],
        input=stdin,
        env=environ,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done, time.monotonic() - start


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_delivers_one_tagged_status_update(runtime: Path, prefix: str) -> None:
    with FakeHub(_hub_path(runtime)) as hub:
        done, elapsed = run_hook("Stop", json.dumps(STOP_PAYLOAD).encode(), runtime, prefix)

    print(f"hook Stop ({prefix} prefix) with a replying hub: {elapsed * 1000:.1f} ms")
    assert done.returncode == 0
    assert done.stdout == b""
    assert done.stderr == b""
    (message,) = hub.messages()
    assert message["v"] == 1
    assert uuid.UUID(message["id"]).version == 4
    assert message["type"] == "status.update"
    assert message["agent"] == "demo/agent-1"
    assert message["event"] == "Stop"
    assert isinstance(message["ts"], float)
    assert abs(message["ts"] - time.time()) < 3600
    assert message["payload"] == {
        "session_id": STOP_PAYLOAD["session_id"],
        "transcript_path": STOP_PAYLOAD["transcript_path"],
        "cwd": "/w",
        "permission_mode": "default",
        "hook_event_name": "Stop",
        "stop_hook_active": False,
        "last_assistant_message": "stub reply: hello",
    }


def test_wzp_hub_socket_overrides_the_default_path(runtime: Path) -> None:
    with FakeHub(runtime / "elsewhere.sock") as hub:
        done, _ = run_hook("SessionStart", b"{}", runtime, WZP_HUB_SOCKET=str(hub.path))
    assert done.returncode == 0
    assert hub.events() == ["SessionStart"]


def test_no_daemon_exits_zero(runtime: Path) -> None:
    times = []
    for _ in range(5):
        done, elapsed = run_hook("Stop", json.dumps(STOP_PAYLOAD).encode(), runtime)
        assert done.returncode == 0
        assert done.stdout == b""
        assert done.stderr == b""
        times.append(elapsed * 1000)
    median, worst = statistics.median(times), max(times)
    print(f"hook Stop with no daemon: median {median:.1f} ms, max {worst:.1f} ms")


def test_connection_refused_exits_zero(runtime: Path) -> None:
    # A socket file with nobody listening: connect() is refused.
    path = _hub_path(runtime)
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    done, elapsed = run_hook("Stop", b"{}", runtime, WZP_HOOK_DEBUG="1")
    print(f"hook Stop, connection refused: {elapsed * 1000:.1f} ms")
    assert done.returncode == 0
    assert done.stdout == b""
    assert b"ConnectionRefusedError" in done.stderr


def test_silent_hub_is_left_at_the_deadline(runtime: Path) -> None:
    with FakeHub(_hub_path(runtime), reply=False) as hub:
        done, elapsed = run_hook("Notification", b'{"message": "hi"}', runtime)
    print(f"hook with a hub that never replies: {elapsed * 1000:.1f} ms")
    assert done.returncode == 0
    assert done.stdout == b""
    assert hub.events() == ["Notification"]


def test_garbage_stdin_is_forwarded_raw(runtime: Path) -> None:
    garbage = b"\xff\xfe not json {" + b"x" * 10_000
    with FakeHub(_hub_path(runtime)) as hub:
        done, _ = run_hook("Stop", garbage, runtime)
    assert done.returncode == 0
    assert done.stdout == b""
    (message,) = hub.messages()
    raw = message["payload"]["raw"]
    assert raw.startswith("\ufffd\ufffd not json {")
    assert len(raw) == hookfast.RAW_CHARS


def test_oversized_stdin_is_cut_and_still_exits_zero(runtime: Path) -> None:
    huge = json.dumps({"prompt": "p" * (3 << 20)}).encode()
    with FakeHub(_hub_path(runtime)) as hub:
        done, _ = run_hook("UserPromptSubmit", huge, runtime)
    assert done.returncode == 0
    (message,) = hub.messages()
    assert set(message["payload"]) == {"raw"}


def test_without_wzp_agent_nothing_is_sent(runtime: Path) -> None:
    with FakeHub(_hub_path(runtime)) as hub:
        done, _ = run_hook("Stop", b"{}", runtime, WZP_AGENT="")
    assert done.returncode == 0
    assert done.stdout == b""
    assert done.stderr == b""
    assert hub.lines == []


def test_debug_prints_one_stderr_line(runtime: Path) -> None:
    with FakeHub(_hub_path(runtime)):
        done, _ = run_hook("Stop", b"{}", runtime, WZP_HOOK_DEBUG="1")
    assert done.returncode == 0
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wzp hook Stop: reply")


def test_latency_with_a_replying_hub(runtime: Path) -> None:
    """Whole-process hook latency (interpreter start included): printed, not asserted."""
    times: dict[str, list[float]] = {name: [] for name in PREFIXES}
    with FakeHub(_hub_path(runtime)) as hub:
        for _ in range(20):
            for name in PREFIXES:
                done, elapsed = run_hook("PreToolUse", b'{"tool_name": "Bash"}', runtime, name)
                assert done.returncode == 0
                times[name].append(elapsed * 1000)
    assert len(hub.lines) == 20 * len(PREFIXES)
    for name, samples in times.items():
        samples.sort()
        print(
            f"hook latency, {name} prefix, 20 runs: p50 {statistics.median(samples):.1f} ms, "
            f"p95 {samples[18]:.1f} ms, max {samples[-1]:.1f} ms"
        )


# --- slim_payload (in process) -----------------------------------------------------------


def test_slim_payload_keeps_useful_fields_and_truncates() -> None:
    payload = {
        "session_id": "s",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "c" * 5000, "description": "d", "timeout": 5},
        "tool_response": {"stdout": "big"},
        "last_assistant_message": "m" * 20000,
        "prompt": "p" * 5000,
        "notification_type": "permission_prompt",
        "message": "Claude needs your permission to use Bash",
        "effort": {"level": "high"},
    }

    slim = hookfast.slim_payload(json.dumps(payload).encode())

    assert set(slim) == {
        "session_id",
        "hook_event_name",
        "tool_name",
        "tool_input",
        "last_assistant_message",
        "prompt",
        "notification_type",
        "message",
    }
    assert len(slim["last_assistant_message"]) == 16384
    assert len(slim["prompt"]) == 4096
    assert slim["tool_input"] == {"command": "c" * 1024, "description": "d"}


@pytest.mark.parametrize("raw", [b"", b"[1, 2]", b'"text"', b"{bad", b"null"])
def test_slim_payload_of_non_objects_is_raw(raw: bytes) -> None:
    assert hookfast.slim_payload(raw) == {"raw": raw.decode()}


def test_lone_surrogates_in_the_payload_are_replaced(runtime: Path) -> None:
    """JSON allows a lone surrogate (JavaScript strings may hold one); the hub refuses text
    that is not valid Unicode, so the hook replaces it instead of losing the event."""
    payload = b'{"tool_name": "Bash", "tool_input": {"command": "a\\ud800b"}, "message": "\\udcff"}'
    with FakeHub(_hub_path(runtime)) as hub:
        done, _ = run_hook("PermissionRequest", payload, runtime)
    assert done.returncode == 0
    (message,) = hub.messages()
    assert message["payload"]["tool_input"] == {"command": "a\ufffdb"}
    assert message["payload"]["message"] == "\ufffd"

"""agents.claude: launch argv, hooks settings, transcript location, hook → state; and the
whole hook path end to end with the real Claude Code CLI in a real PTY."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.claude_env import (
    PERMISSION_DIALOG,
    FakeHub,
    PtyProgram,
    claude_binary,
    claude_environment,
    seed_claude_home,
    short_tmpdir,
    wait_until,
)
from wzp_supervisor.agents import claude

if TYPE_CHECKING:
    from tests.model_stub import ModelStub


HOOK_PREFIX = [sys.executable, "-m", "wzp_supervisor"]


def _settings(argv: list[str]) -> dict[str, Any]:
    settings = json.loads(argv[argv.index("--settings") + 1])
    assert isinstance(settings, dict)
    return settings


# --- launch_argv -------------------------------------------------------------------------


def test_first_start_assigns_and_records_a_session_id(tmp_path: Path) -> None:
    session_file = tmp_path / "sessions" / "ws" / "agent-1.id"
    logged: list[str] = []
    env = {"HOME": str(tmp_path / "home")}

    argv = claude.launch_argv(
        ["claude", "--model", "x"], session_file, tmp_path, logged.append, env=env
    )

    recorded = session_file.read_text().strip()
    assert uuid.UUID(recorded).version == 4
    assert argv[:5] == ["claude", "--model", "x", "--session-id", recorded]
    assert "--resume" not in argv
    assert _settings(argv) == claude.hooks_settings()
    assert logged == []


def test_restart_with_transcript_resumes(tmp_path: Path) -> None:
    session_file = tmp_path / "agent.id"
    sid = str(uuid.uuid4())
    claude.write_session_id(session_file, sid)
    env = {"HOME": str(tmp_path / "home")}
    transcript = claude.transcript_path(sid, tmp_path, env=env)
    transcript.parent.mkdir(parents=True)
    transcript.write_text("{}\n")
    logged: list[str] = []

    argv = claude.launch_argv(["claude"], session_file, tmp_path, logged.append, env=env)

    assert argv[:3] == ["claude", "--resume", sid]
    assert "--session-id" not in argv
    assert "--settings" in argv
    assert logged == []


def test_restart_without_transcript_starts_fresh_and_says_so(tmp_path: Path) -> None:
    session_file = tmp_path / "agent.id"
    sid = str(uuid.uuid4())
    claude.write_session_id(session_file, sid)
    logged: list[str] = []

    argv = claude.launch_argv(
        ["claude"], session_file, tmp_path, logged.append, env={"HOME": str(tmp_path)}
    )

    assert argv[:3] == ["claude", "--session-id", sid]
    assert session_file.read_text().strip() == sid
    assert len(logged) == 1
    assert sid in logged[0]
    assert "starting a fresh conversation" in logged[0]


def test_unreadable_session_file_gets_a_new_id(tmp_path: Path) -> None:
    session_file = tmp_path / "agent.id"
    session_file.write_text("not-a-uuid\n")
    logged: list[str] = []

    argv = claude.launch_argv(["claude"], session_file, tmp_path, logged.append)

    new = session_file.read_text().strip()
    assert uuid.UUID(new)
    assert argv[1:3] == ["--session-id", new]
    assert len(logged) == 1
    assert "no valid session id" in logged[0]


def test_transcript_path_uses_claude_config_dir_and_the_real_cwd(tmp_path: Path) -> None:
    real = tmp_path / "real dir.x"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    env = {"HOME": "/nowhere", "CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")}

    path = claude.transcript_path("abc", link, env=env)

    slug = re.sub("[^a-zA-Z0-9]", "-", str(real.resolve()))
    assert path == tmp_path / "cfg" / "projects" / slug / "abc.jsonl"
    assert claude.transcript_path("abc", link, config_dir=Path("/c")).parent.parent == Path(
        "/c/projects"
    )


def test_project_slug_of_long_paths_is_cut_and_hashed() -> None:
    assert claude.project_slug("/a/b_c.d") == "-a-b-c-d"
    assert claude.project_slug("/é😀") == "----"  # é is one UTF-16 unit, the emoji two
    long = "/" + "x" * 300
    slug = claude.project_slug(long)
    assert slug.startswith("-" + "x" * 199 + "-")
    assert len(slug) > 201
    assert slug == claude.project_slug(long)
    assert slug != claude.project_slug(long + "y")


def test_transcript_path_matches_the_real_cli(model_stub: ModelStub) -> None:
    """The CLI, run in a long, oddly named directory, writes the transcript we predict."""
    with short_tmpdir() as tmp:
        cwd = tmp / ("d é😀 " + "n" * 60) / ("m.x-" * 40)
        cwd.mkdir(parents=True)
        home = tmp / "h"
        seed_claude_home(home, cwd)
        env = claude_environment(home, model_stub.url)
        sid = str(uuid.uuid4())
        done = subprocess.run(
            [str(claude_binary()), "-p", "--session-id", sid, "hello"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "stub reply: hello"
        expected = claude.transcript_path(sid, cwd, env=env)
        written = sorted((home / ".claude" / "projects").glob(f"*/{sid}.jsonl"))
        assert written == [expected]
        assert len(expected.parent.name) > 200


# --- hooks_settings ----------------------------------------------------------------------


def test_hooks_settings_cover_every_event_with_a_quoted_command() -> None:
    prefix = ["/opt/my python/bin/python", "-m", "wzp_supervisor"]

    settings = claude.hooks_settings(prefix)

    assert set(settings) == {"hooks"}
    hooks = settings["hooks"]
    assert list(hooks) == list(claude.HOOK_EVENTS)
    assert set(hooks) == {
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "PermissionRequest",
        "PermissionDenied",
        "Notification",
        "Elicitation",
        "ElicitationResult",
        "Stop",
        "StopFailure",
        "SessionEnd",
    }
    for event, entries in hooks.items():
        assert len(entries) == 1
        entry = entries[0]
        if event in (
            "PreToolUse",
            "PostToolUse",
            "PostToolUseFailure",
            "PermissionRequest",
            "PermissionDenied",
        ):
            assert entry["matcher"] == "*"
        else:
            assert "matcher" not in entry
        (command,) = entry["hooks"]
        assert command["type"] == "command"
        assert command["timeout"] == claude.HOOK_TIMEOUT_S
        assert shlex.split(command["command"]) == [*prefix, "hook", event]
    json.dumps(settings)


def test_hooks_settings_default_to_the_fast_hook_of_this_interpreter() -> None:
    command = claude.hooks_settings()["hooks"]["Stop"][0]["hooks"][0]["command"]
    words = shlex.split(command)
    assert words[:3] == [sys.executable, "-S", "-c"]
    assert words[-2:] == ["hook", "Stop"]
    assert "wzp_supervisor.cli.hook" in words[3]


# --- state_for_event ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("SessionStart", {"source": "startup"}, ("idle", None, None)),
        ("SessionStart", {"source": "clear"}, ("idle", None, None)),
        ("UserPromptSubmit", {"prompt": "hi"}, ("busy", None, None)),
        ("PreToolUse", {"tool_name": "Bash"}, ("busy", None, None)),
        ("PostToolUse", {"tool_name": "Bash"}, ("busy", None, None)),
        (
            "PermissionRequest",
            {"tool_name": "Bash", "tool_input": {"command": "touch x"}},
            ("waiting_input", "permission", "Claude needs your permission to use Bash: touch x"),
        ),
        ("PermissionRequest", {}, ("waiting_input", "permission", "Claude needs permission")),
        (
            "Notification",
            {"notification_type": "permission_prompt", "message": "Claude needs your permission"},
            ("waiting_input", "permission", "Claude needs your permission"),
        ),
        (
            "Notification",
            {"notification_type": "elicitation_dialog", "message": "Claude Code needs your input"},
            ("waiting_input", "elicitation", "Claude Code needs your input"),
        ),
        (
            "Notification",
            {"notification_type": "idle_prompt", "message": "Claude is waiting for your input"},
            (None, None, None),
        ),
        ("Notification", {"notification_type": "auth_success"}, (None, None, None)),
        ("Notification", {}, (None, None, None)),
        ("Stop", {"last_assistant_message": "done"}, ("idle", None, None)),
        ("SessionEnd", {"reason": "prompt_input_exit"}, ("exited", "prompt_input_exit", None)),
        ("SessionEnd", {"reason": "other"}, ("exited", "other", None)),
        ("SessionEnd", {}, ("exited", None, None)),
        ("SessionEnd", {"reason": "clear"}, (None, None, None)),
        ("SessionEnd", {"reason": "resume"}, (None, None, None)),
        ("SubagentStop", {}, (None, None, None)),
        ("Bogus", {}, (None, None, None)),
    ],
)
def test_state_for_event(
    event: str, payload: dict[str, Any], expected: tuple[str | None, str | None, str | None]
) -> None:
    assert claude.state_for_event(event, payload) == expected


def test_waiting_message_is_a_short_single_line_excerpt() -> None:
    message = "line one\n\n" + "word " * 200
    _, _, excerpt = claude.state_for_event(
        "Notification", {"notification_type": "permission_prompt", "message": message}
    )
    assert excerpt is not None
    assert "\n" not in excerpt
    assert len(excerpt) == claude.MESSAGE_EXCERPT_CHARS
    assert excerpt.startswith("line one word word")


# --- end to end with the real CLI --------------------------------------------------------


class Agent:
    """One hermetic Claude Code agent setup: temp HOME, workspace, session file, fake hub."""

    def __init__(self, root: Path, stub: ModelStub, hub: FakeHub) -> None:
        self.cwd = root / "ws"
        self.cwd.mkdir()
        self.home = root / "home"
        seed_claude_home(self.home, self.cwd)
        self.session_file = root / "state" / "agent-1.id"
        self.env = claude_environment(
            self.home, stub.url, {"WZP_AGENT": "demo/agent-1", "WZP_HUB_SOCKET": str(hub.path)}
        )
        self.log: list[str] = []

    def wait_transcript(self, session_id: str, text: str) -> str:
        """Wait until the session's transcript contains ``text``; return the transcript."""
        path = claude.transcript_path(session_id, self.cwd, env=self.env)
        content = ""

        def has_text() -> bool:
            nonlocal content
            content = path.read_text() if path.exists() else ""
            return text in content

        wait_until(has_text, 10, lambda: f"{text!r} not in {path}")
        return content

    def launch(self) -> PtyProgram:
        argv = claude.launch_argv(
            [str(claude_binary())],
            self.session_file,
            self.cwd,
            self.log.append,
            hook_argv_prefix=HOOK_PREFIX,
            env=self.env,
        )
        # the permission dialog is part of the test; newer CLIs (2.1.332) start in "auto" mode
        argv += ["--permission-mode", "default"]
        return PtyProgram(argv, self.env, self.cwd)


@pytest.fixture
def agent_root() -> Iterator[Path]:
    with short_tmpdir() as root:
        yield root


def test_real_cli_hooks_permission_and_resume(model_stub: ModelStub, agent_root: Path) -> None:
    with FakeHub(agent_root / "run" / "hub.sock") as hub:
        agent = Agent(agent_root, model_stub, hub)
        program = agent.launch()
        with program:
            assert "--session-id" in program.argv
            sid = agent.session_file.read_text().strip()

            start = hub.wait_event("SessionStart")
            assert start["agent"] == "demo/agent-1"
            assert start["payload"]["session_id"] == sid
            assert start["payload"]["source"] == "startup"
            assert start["v"] == 1
            assert uuid.UUID(start["id"])

            # A plain prompt: UserPromptSubmit, then Stop carrying the stub's text.
            program.submit("hello stub")
            assert hub.wait_event("UserPromptSubmit")["payload"]["prompt"] == "hello stub"
            stop = hub.wait_event("Stop")
            assert stop["payload"]["last_assistant_message"] == "stub reply: hello stub"
            assert stop["payload"]["transcript_path"] == str(
                claude.transcript_path(sid, agent.cwd, env=agent.env)
            )
            program.wait_for("stub reply: hello stub")

            # A tool call that needs permission.
            seen = len(hub.events())
            model_stub.reply_tool_use("Bash", {"command": "touch x", "description": "make x"})
            model_stub.reply_text("made x")
            program.submit("please make x")
            pre = hub.wait_event("PreToolUse", after=seen)
            assert pre["payload"]["tool_name"] == "Bash"
            assert pre["payload"]["tool_input"]["command"] == "touch x"
            request = hub.wait_event("PermissionRequest", after=seen)
            assert request["payload"]["tool_name"] == "Bash"
            program.wait_for(PERMISSION_DIALOG)
            # Left alone for 6 s, the dialog also sends the permission_prompt notification.
            note = hub.wait_event("Notification", after=seen)
            assert note["payload"]["notification_type"] == "permission_prompt"
            assert claude.state_for_event("Notification", note["payload"])[:2] == (
                "waiting_input",
                "permission",
            )
            assert not (agent.cwd / "x").exists()

            program.write("1")
            post = hub.wait_event("PostToolUse", after=seen)
            assert post["payload"]["tool_name"] == "Bash"
            stop = hub.wait_event("Stop", after=seen)
            assert stop["payload"]["last_assistant_message"] == "made x"
            assert (agent.cwd / "x").exists()
            order = [e for e in hub.events()[seen:] if e != "Notification"]
            assert order == [
                "UserPromptSubmit",
                "PreToolUse",
                "PermissionRequest",
                "PostToolUse",
                "Stop",
            ]
            tool_results = model_stub.main_requests()[-1].tool_results()
            assert [r["tool_use_id"] for r in tool_results] == [pre["payload"]["tool_use_id"]]
            # The CLI appends to the transcript a moment after the Stop hook; a SIGKILL in
            # between loses the last turn, so wait for it before killing.
            agent.wait_transcript(sid, "made x")

        # Killed without warning: the next start resumes the same conversation.
        seen = len(hub.events())
        program = agent.launch()
        with program:
            assert program.argv[1:3] == ["--resume", sid]
            start = hub.wait_event("SessionStart", after=seen)
            assert start["payload"]["source"] == "resume"
            assert start["payload"]["session_id"] == sid
            program.wait_for("stub reply: hello stub")
            program.submit("still there?")
            stop = hub.wait_event("Stop", after=seen)
            assert stop["payload"]["last_assistant_message"] == "stub reply: still there?"
            history = json.dumps(model_stub.main_requests()[-1].body["messages"])
            assert "stub reply: hello stub" in history
            assert "made x" in history
            transcript = agent.wait_transcript(sid, "stub reply: still there?")
            assert "stub reply: hello stub" in transcript
        assert agent.log == []

"""Claude Code specifics: launch flags, hooks settings, session ids, resume, hook → state.

Facts this module relies on (Claude Code 2.1.x, checked against the real CLI):

- Transcripts live in ``<config dir>/projects/<slug>/<session id>.jsonl`` where the config dir
  is ``$CLAUDE_CONFIG_DIR`` or ``~/.claude`` and the slug is the *real* path of the working
  directory (symlinks resolved) with every character other than ASCII letters and digits
  replaced by ``-`` (counted in UTF-16 code units); slugs longer than 200 characters are cut
  to 200 and suffixed with ``-`` and a base-36 hash of the path.
- ``--session-id ID`` is refused ("already in use") when that transcript exists for the
  working directory, and accepted again once the transcript is gone; ``--resume ID`` is
  refused ("No conversation found") when it is missing. So: transcript present → ``--resume``,
  else ``--session-id`` with the same id.
- ``--settings <json>`` adds hooks on top of the user's own settings without editing them.
- The permission dialog fires the ``PermissionRequest`` hook at once; the ``Notification``
  hook with ``permission_prompt`` only follows after the dialog has been left alone for 6 s.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wzp_supervisor.atomic_file import atomic_write

HOOK_EVENTS: tuple[str, ...] = (
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
)
"""The Claude Code hook events wzp listens to."""

TOOL_EVENTS = frozenset(
    {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"}
)
"""Events whose hook entries take a tool-name ``matcher``."""

HOOK_TIMEOUT_S = 5
"""Timeout Claude Code applies to each of our hook commands (ours returns within ~1 s)."""

MESSAGE_EXCERPT_CHARS = 200
"""Length of the message excerpt carried by a waiting_input state."""

_SLUG_MAX = 200
_UNSAFE = re.compile(r"[^a-zA-Z0-9]")


def default_hook_prefix() -> list[str]:
    """The command that runs ``wzp``: this interpreter with ``-m wzp_supervisor``."""
    return [sys.executable, "-m", "wzp_supervisor"]


def fast_hook_prefix() -> list[str]:
    """A quicker hook command: this interpreter without ``site``, importing cli.hook directly.

    ``python -S`` skips site-packages processing (.pth files, the editable-install finder),
    which is most of the start-up cost of a bare ``python -m wzp_supervisor``; the package's
    parent directory is put on ``sys.path`` by hand instead (cli.hook needs only the standard
    library). Runs as ``<prefix> hook EVENT`` like :func:`default_hook_prefix`.
    """
    package_parent = Path(__file__).resolve().parent.parent.parent
    code = (
        f"import sys; sys.path.insert(0, {str(package_parent)!r}); "
        "from wzp_supervisor.cli.hook import main; sys.exit(main(sys.argv[2:]))"
    )
    return [sys.executable, "-S", "-c", code]


def claude_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Claude Code's config dir: ``$CLAUDE_CONFIG_DIR`` or ``$HOME/.claude``."""
    environ = os.environ if env is None else env
    custom = environ.get("CLAUDE_CONFIG_DIR")
    if custom:
        return Path(unicodedata.normalize("NFC", custom))
    home = environ.get("HOME") or str(Path.home())
    return Path(unicodedata.normalize("NFC", home)) / ".claude"


def _js_string_hash(text: str) -> int:
    """Java-style 32-bit string hash over UTF-16 code units, as the CLI computes it."""
    units = text.encode("utf-16-le", "surrogatepass")
    value = 0
    for i in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def project_slug(cwd: str | os.PathLike[str]) -> str:
    """The directory name Claude Code uses under ``projects/`` for a working directory.

    ``cwd`` is used as given; :func:`transcript_path` resolves it first, as the CLI does.
    """
    text = os.fspath(cwd)
    # One '-' per UTF-16 code unit, so characters outside the BMP give two, as in the CLI.
    units = text.encode("utf-16-le", "surrogatepass")
    chars = [chr(int.from_bytes(units[i : i + 2], "little")) for i in range(0, len(units), 2)]
    slug = "".join("-" if _UNSAFE.match(c) else c for c in chars)
    if len(slug) <= _SLUG_MAX:
        return slug
    return f"{slug[:_SLUG_MAX]}-{_base36(abs(_js_string_hash(text)))}"


def transcript_path(
    session_id: str,
    cwd: str | os.PathLike[str],
    config_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Where Claude Code keeps the transcript of ``session_id`` started in ``cwd``.

    ``config_dir`` defaults to :func:`claude_config_dir` of ``env`` (the agent's environment,
    default ``os.environ``).
    """
    base = config_dir if config_dir is not None else claude_config_dir(env)
    real = unicodedata.normalize("NFC", os.path.realpath(os.fspath(cwd)))
    return base / "projects" / project_slug(real) / f"{session_id}.jsonl"


def _valid_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def write_session_id(session_file: Path, session_id: str) -> None:
    """Write ``session_id`` to ``session_file`` atomically and durably."""
    atomic_write(session_file, (session_id + "\n").encode())


def read_session_id(session_file: Path) -> str | None:
    """The session id recorded in ``session_file``, or None when absent or not a UUID."""
    try:
        text = session_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return _valid_uuid(text)


def hooks_settings(hook_argv_prefix: Sequence[str] | None = None) -> dict[str, Any]:
    """Settings JSON (for ``--settings``) running ``<prefix> hook <Event>`` on every event.

    The prefix defaults to :func:`fast_hook_prefix` (the hook runs on every tool call, so its
    start-up is on the agent's path); each word is shell-quoted because Claude Code runs hook
    commands through a shell.
    """
    prefix = list(hook_argv_prefix) if hook_argv_prefix is not None else fast_hook_prefix()
    hooks: dict[str, Any] = {}
    for event in HOOK_EVENTS:
        command = {
            "type": "command",
            "command": shlex.join([*prefix, "hook", event]),
            "timeout": HOOK_TIMEOUT_S,
        }
        entry: dict[str, Any] = {"hooks": [command]}
        if event in TOOL_EVENTS:
            entry = {"matcher": "*", **entry}
        hooks[event] = [entry]
    return {"hooks": hooks}


def launch_argv(
    base_argv: Sequence[str],
    session_file: Path,
    cwd: Path,
    log: Callable[[str], None],
    *,
    hook_argv_prefix: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Complete an agent's argv for one (re)start: session flags and our hooks.

    - first start (no session file): a new uuid4 is written to ``session_file`` and the agent
      starts with ``--session-id <id>``;
    - the transcript of the recorded id exists: ``--resume <id>``;
    - the file exists but the transcript is gone: ``log`` says so and the agent starts fresh
      with ``--session-id`` and the same id (the CLI accepts it once the transcript is gone).
      The CLI writes the transcript only with the first prompt, so an agent restarted before
      anyone typed lands here too.

    ``--settings <json>`` carrying :func:`hooks_settings` is always appended. ``env`` is the
    agent's environment (for ``CLAUDE_CONFIG_DIR``/``HOME``); default ``os.environ``.
    """
    settings = json.dumps(hooks_settings(hook_argv_prefix), separators=(",", ":"))
    existed = session_file.exists()
    session_id = read_session_id(session_file)
    if session_id is None:
        if existed:
            log(f"session file {session_file} holds no valid session id; starting a new session")
        session_id = str(uuid.uuid4())
        write_session_id(session_file, session_id)
        return [*base_argv, "--session-id", session_id, "--settings", settings]
    transcript = transcript_path(session_id, cwd, env=env)
    if transcript.exists():
        return [*base_argv, "--resume", session_id, "--settings", settings]
    log(
        f"no transcript of session {session_id} at {transcript} (deleted, or nothing was "
        "said before the restart); starting a fresh conversation with the same session id"
    )
    return [*base_argv, "--session-id", session_id, "--settings", settings]


def _excerpt(text: object, limit: int = MESSAGE_EXCERPT_CHARS) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _permission_message(payload: Mapping[str, Any]) -> str:
    tool = payload.get("tool_name")
    message = f"Claude needs your permission to use {tool}" if tool else "Claude needs permission"
    tool_input = payload.get("tool_input")
    if isinstance(tool_input, Mapping):
        detail = tool_input.get("command") or tool_input.get("file_path") or tool_input.get("url")
        if isinstance(detail, str) and detail:
            message = f"{message}: {detail}"
    return message


StateChange = tuple[str | None, str | None, str | None]
"""(new state or None for no change, reason, message excerpt)."""

_SESSION_END_KEEPS_RUNNING = frozenset({"clear", "resume"})


_NOTIFICATION_REASONS = {
    "permission_prompt": "permission",
    "elicitation_dialog": "elicitation",
    "agent_needs_input": "input",
}

_BUSY_EVENTS = frozenset(
    {
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "PermissionDenied",
        "ElicitationResult",
    }
)

PERMISSION_MODES = ("default", "acceptEdits", "auto", "plan", "bypassPermissions", "dontAsk")
"""Permission modes the CLI reports in hook payloads (``permission_mode``)."""


def permission_mode(payload: Mapping[str, Any]) -> str | None:
    """The permission mode a hook payload reports (None when absent or not a short word)."""
    mode = payload.get("permission_mode")
    if isinstance(mode, str) and 0 < len(mode) <= 40 and mode.isidentifier():
        return mode
    return None


def stop_failure_text(payload: Mapping[str, Any]) -> str:
    """What went wrong in a StopFailure: the error details, else the last message, else the
    error kind."""
    for key in ("error_details", "last_assistant_message", "error"):
        text = _excerpt(payload.get(key), 500)
        if text:
            return text
    return "the turn ended in an API error"


def state_for_event(event: str, payload: Mapping[str, Any]) -> StateChange:
    """Map one Claude Code hook event to an agent state change.

    Returns ``(state, reason, message)``; ``state`` None means "no change". ``waiting_input``
    carries a reason (``permission``, ``elicitation`` or ``input``) and a message excerpt;
    ``error`` the error kind and its text; ``exited`` the SessionEnd reason.

    ==========================  ========================================================
    SessionStart, Stop          idle
    UserPromptSubmit            busy
    PreToolUse, PostToolUse     busy
    PostToolUseFailure          busy (the model sees the failure and goes on)
    PermissionDenied            busy (the model is told and goes on)
    ElicitationResult           busy
    PermissionRequest           waiting_input, "permission"
    Elicitation                 waiting_input, "elicitation"
    Notification                permission_prompt → waiting_input "permission";
                                elicitation_dialog → waiting_input "elicitation";
                                agent_needs_input → waiting_input "input";
                                idle_prompt and others → no change (idle_prompt comes
                                ~60 s late and the Stop hook has already said idle)
    StopFailure                 error, the error kind, the error text
    SessionEnd                  reason clear/resume → no change (the CLI lives on and a
                                SessionStart follows); any other reason → exited
    ==========================  ========================================================
    """
    if event == "SessionStart" or event == "Stop":
        return "idle", None, None
    if event in _BUSY_EVENTS:
        return "busy", None, None
    if event == "PermissionRequest":
        return "waiting_input", "permission", _excerpt(_permission_message(payload))
    if event == "Elicitation":
        message = payload.get("message") or payload.get("mcp_server_name")
        return "waiting_input", "elicitation", _excerpt(message)
    if event == "Notification":
        kind = payload.get("notification_type")
        reason = _NOTIFICATION_REASONS.get(kind if isinstance(kind, str) else "")
        if reason is None:
            return None, None, None
        return "waiting_input", reason, _excerpt(payload.get("message"))
    if event == "StopFailure":
        kind = payload.get("error")
        reason = kind if isinstance(kind, str) and kind else "api_error"
        return "error", reason[:60], stop_failure_text(payload)
    if event == "SessionEnd":
        end_reason = payload.get("reason")
        if end_reason in _SESSION_END_KEEPS_RUNNING:
            return None, None, None
        return "exited", end_reason if isinstance(end_reason, str) else None, None
    return None, None, None


_RULE = re.compile(r"^\s*─{10,}\s*$")
_INPUT = re.compile(r"^\s*[❯>]\s?(.*)$")


def screen_prompt(lines: Sequence[str]) -> str | None:
    """The text in the TUI's input box when the screen shows it ready for typing (the ``❯``
    line between two horizontal rules, at the bottom), else None. ``""``: empty and ready."""
    rules = [i for i, line in enumerate(lines) if _RULE.match(line)]
    for top, bottom in zip(rules[-2::-1], rules[:0:-1], strict=False):
        if bottom <= top + 1 or bottom - top > 12:
            continue
        match = _INPUT.match(lines[top + 1])
        if match is not None:
            return "\n".join([match.group(1), *lines[top + 2 : bottom]]).strip()
    return None


_SPINNER = re.compile(r"^\s*\S?\s*[^\s(]+…\s*\((?:\s*\d+[hms])+\s*(?P<rest>.*)$")


def activity_fingerprint(lines: Sequence[str]) -> str:
    """The screen with what changes while nothing happens taken out: the spinner's glyph,
    verb and elapsed time (its token count stays: it moves when the model streams)."""
    out = []
    for line in lines:
        match = _SPINNER.match(line)
        out.append("<spinner>" + match.group("rest") if match else line)
    return "\n".join(out)

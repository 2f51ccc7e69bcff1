"""Session verbs: ``attach``, ``send``, ``peek``, ``logs``.

They talk to a session holder's socket (or read its log) directly, not through the daemon, so
they work for any running session. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from wzp_supervisor.cli.common import echo, fail

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def _split_target(target: str) -> tuple[str, str]:
    workspace, sep, pane = target.partition("/")
    if not (sep and _NAME.fullmatch(workspace) and _NAME.fullmatch(pane)):
        raise click.BadParameter(f"{target!r} is not a ws/pane target", param_hint="TARGET")
    return workspace, pane


def _socket(target: str) -> Path:
    """The session socket of ``target``; exits 1 when its directory is not private to us."""
    from wzp_supervisor import paths
    from wzp_supervisor.cli.hub_client import UnsafeHub, check_socket_dir

    path = paths.session_socket(*_split_target(target))
    try:
        check_socket_dir(path, f"the session socket of {target}")
    except UnsafeHub as exc:
        fail(str(exc))
    return path


def _session_failed(target: str, exc: Exception) -> str:
    from wzp_supervisor.session.control import SessionNotFound, SessionStale

    if isinstance(exc, SessionNotFound):
        return f"no session {target} is running ({exc}); see `wzp list`"
    if isinstance(exc, SessionStale):
        return f"session {target} is not running ({exc})"
    return f"session {target}: {exc}"


@click.command()
@click.argument("target")
@click.option(
    "--detach-key",
    envvar="WZP_DETACH_KEY",
    default="ctrl+]",
    show_default=True,
    help="Key that detaches, leaving the agent running (e.g. ctrl+], ^q, 0x1d, none).",
)
@click.option("--wait", is_flag=True, help="Wait for the session to start instead of failing.")
def attach(target: str, detach_key: str, wait: bool) -> None:
    """Show session TARGET (ws/pane) in this terminal and type into it.

    The screen is redrawn at once; closing the terminal or pressing the detach key leaves the
    agent running. When the agent restarts, the view reconnects by itself.
    """
    from wzp_supervisor.session.attach import attach as run_attach
    from wzp_supervisor.session.attach import parse_detach_key
    from wzp_supervisor.session.control import SessionError

    try:
        key = parse_detach_key(detach_key)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--detach-key") from None
    path = _socket(target)
    if not wait and not path.exists() and _coming_up(target):
        wait = True  # a pane opened right after `workspace create`: the holder is starting
    try:
        code = run_attach(path, target, detach_key=key, wait=wait, waiting_line=supervisor_line)
    except SessionError as exc:
        fail(_session_failed(target, exc))
    sys.exit(code)


class _NoDaemon(Exception):
    """No daemon answered."""


def _supervised(target: str) -> dict[str, Any] | None:
    """The daemon's record of ``target`` (None: not supervised); _NoDaemon without a daemon."""
    from wzp_supervisor.cli.hub_client import HubClient

    try:
        with HubClient(timeout=2) as client:
            processes = client.request("status")["processes"]
    except Exception:  # UnsafeHub included: then nothing was sent, and no daemon is asked
        raise _NoDaemon from None
    return next((p for p in processes if p["target"] == target), None)


def _coming_up(target: str) -> bool:
    """Whether the daemon is starting (or about to restart) ``target``'s session."""
    try:
        proc = _supervised(target)
    except _NoDaemon:  # nothing will come up
        return False
    return proc is not None and proc["state"] in ("starting", "running", "backoff")


def supervisor_line(target: str, status: Any) -> str:
    """The line an attached view shows while its agent is down, from the daemon's view:
    ``agent-1 exited (code 1); restarting in 2 s (attempt 2)``."""
    from wzp_supervisor.session.attach import default_waiting_line

    try:
        proc = _supervised(target)
    except _NoDaemon:  # say what the holder told us
        return default_waiting_line(target, status)
    if proc is None:
        return f"{target} is no longer supervised"
    pane = proc["pane"]
    what = status.describe() if status is not None else proc.get("reason") or "stopped"
    state = proc["state"]
    if state == "backoff" and proc.get("next_try"):
        wait = max(0.0, proc["next_try"] - time.time())
        return f"{pane} exited ({what}); restarting in {wait:.0f} s (attempt {proc['attempt']})"
    if state in ("starting", "running"):
        return f"{pane} exited ({what}); restarting now"
    if state == "fatal":
        return f"{pane} is fatal: {proc['reason']}; `wzp start {target}` to try again"
    return f"{pane} {state} ({what}); waiting for `wzp start {target}`"


@click.command()
@click.argument("target")
@click.argument("text")
@click.option("--enter", is_flag=True, help="Press Enter after the text.")
@click.option(
    "--force",
    is_flag=True,
    help="Type even into a permission dialog (use `wzp answer` to answer one by label).",
)
def send(target: str, text: str, enter: bool, force: bool) -> None:
    """Type TEXT into session TARGET (ws/pane); TEXT "-" reads it from stdin.

    The text arrives as one bracketed paste when the program has enabled that. At a
    permission dialog it is refused (an Enter would pick the preselected option) unless
    --force: answer the dialog with `wzp answer TARGET yes|no`.
    """
    from wzp_supervisor.session.control import SessionError, send_text

    path = _socket(target)
    if text == "-":
        text = sys.stdin.read()
    try:
        send_text(path, text, enter, force=force)
    except SessionError as exc:
        fail(_session_failed(target, exc))


@click.command()
@click.argument("target")
@click.option("--lines", "-n", "lines", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (lines, size, cursor).")
def peek(target: str, lines: int | None, as_json: bool) -> None:
    """Print the current screen of session TARGET (ws/pane) as text."""
    from wzp_supervisor.session.control import SessionError
    from wzp_supervisor.session.control import peek as peek_screen

    path = _socket(target)
    try:
        snapshot = peek_screen(path, lines)
    except SessionError as exc:
        fail(_session_failed(target, exc))
    if as_json:
        click.echo(json.dumps({"target": target, **snapshot.to_json()}, indent=2))
    elif snapshot.lines:
        echo(snapshot.text, multiline=True)


@click.command()
@click.argument("target")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output.")
@click.option("--lines", "-n", "count", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option(
    "--plain",
    is_flag=True,
    help="Text as the terminal showed it (replayed through a screen), no escape sequences.",
)
def logs(target: str, follow: bool, count: int | None, plain: bool) -> None:
    """Print the output log of session TARGET (ws/pane), rotated files included.

    \b
    Example:
      wzp logs demo/agent-1 --plain -n 50
    """
    from wzp_supervisor import paths
    from wzp_supervisor.session import logfile

    path = paths.pane_log(*_split_target(target))
    if not logfile.log_files(path) and not follow:
        fail(f"no log for {target} (looked for {path})")
    out = sys.stdout.buffer
    try:
        if plain:
            _plain_logs(path, follow, count)
            return
        if count is not None:
            out.write(logfile.last_lines(path, count))
        else:
            for chunk in logfile.read_all(path):
                out.write(chunk)
                out.flush()
        out.flush()
        if follow:
            for chunk in logfile.follow(path):
                out.write(chunk)
                out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()


# output that moves the cursor (or switches screens) needs the screen model to be read
_MOVES = re.compile(rb"\x1b\[[0-9;?]*[ABCDEFGHJKSTdfr]|\x1b\[\?(?:1049|1047|47)[hl]|\x1b[78M]|\x08")


def _bulk_plain(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """Plain lines of a log read in large chunks: a chunk without cursor movement is
    stripped of escapes line by line (fast), one with it is replayed through a screen."""
    from wzp_supervisor.session.logfile import strip_escapes
    from wzp_supervisor.session.screen import TextReplay

    replay: TextReplay | None = None
    carry = b""
    for chunk in chunks:
        data, carry = carry + chunk, b""
        if _MOVES.search(data):
            replay = replay or TextReplay()
            yield replay.feed(data)
            continue
        if replay is not None:
            yield replay.finish()
            replay = None
        cut = data.rfind(b"\n") + 1
        data, carry = data[:cut], data[cut:]
        if data:
            yield strip_escapes(data.decode("utf-8", "replace")).split("\n")[:-1]
    if carry:
        yield strip_escapes(carry.decode("utf-8", "replace")).split("\n")
    if replay is not None:
        yield replay.finish()


def _plain_logs(path: Path, follow: bool, count: int | None) -> None:
    """``logs --plain``: the log as the terminal showed it (cursor movement replayed through
    a screen model), printed as safe text."""
    from wzp_supervisor.cli.printable import printable
    from wzp_supervisor.session import logfile
    from wzp_supervisor.session.screen import TextReplay

    out = sys.stdout.buffer

    def emit(lines: list[str]) -> None:
        if lines:
            out.write("".join(printable(line, True) + "\n" for line in lines).encode())
            out.flush()

    if not follow:
        if count is not None:
            lines = [ln for part in _bulk_plain([logfile.last_lines(path, count)]) for ln in part]
            emit(lines[-count:] if count else [])
            return
        for lines in _bulk_plain(logfile.read_all(path)):
            emit(lines)
        return
    replay = TextReplay()
    if count is not None:
        text = replay.feed(logfile.last_lines(path, count)) + replay.settled()
        emit(text[-count:] if count else [])
    else:
        for chunk in logfile.read_all(path):
            emit(replay.feed(chunk))
        emit(replay.settled())
    try:
        for chunk in logfile.follow(path):
            emit(replay.feed(chunk) + replay.settled())
    finally:
        emit(replay.finish())

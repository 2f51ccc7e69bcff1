"""``wzp task map --pool NAME FILE``: many prompts through a pool, results as JSONL in order.

FILE holds one prompt per line, or JSON lines ``{"prompt": …, "session"?: …, "priority"?: …}``
(``-``: standard input, spooled to a temp file first). The whole file is checked before
anything is sent, so a bad line is reported as ``FILE:LINE`` and nothing runs. Then the
prompts are submitted through one hub connection, at most ``--window`` of them unfinished at a
time (memory stays bounded however long the file is), and each result is printed as one JSON
line as soon as every earlier one is printed: the output is in input order. A rich progress
bar goes to stderr when it is a terminal. Exit 1 when any task did not succeed. The tasks
count for ``--workspace`` (default: the calling agent pane's, from ``$WZP_AGENT``) under the
pool's ``concurrency.per_workspace``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from wzp_supervisor.cli.common import EXIT_FAILED, EXIT_NOT_RUNNING, echo, fail
from wzp_supervisor.cli.hub_client import (
    EXIT_INTERRUPTED,
    NOT_RUNNING,
    DaemonNotRunning,
    HubClient,
    RequestFailed,
    UnsafeHub,
)
from wzp_supervisor.task_model import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from rich.progress import Progress

RESULT_FIELDS = (
    "text",
    "is_error",
    "subtype",
    "cost_usd",
    "usage",
    "duration_s",
    "session_id",
    "worktree",
)
"""The structured result's fields copied into each output line (``worker`` too);
``worktree`` is the worker's own git worktree (``worktree: true`` pools), else null."""

JSONL_KEYS = frozenset({"prompt", "session", "priority"})
SPOOL_CHUNK = 1 << 16
FATAL_CODES = frozenset({"not_found", "unknown_type", "bad_request"})
CANCEL_TIMEOUT_S = 10.0
"""How long each cancel after ctrl+c may wait for its reply."""
"""Submit errors that every later prompt would get too (unknown pool, an older daemon)."""


def calling_workspace() -> str | None:
    """The workspace of the agent pane this command runs in (``$WZP_AGENT`` is ``ws/pane``),
    or None outside one."""
    workspace, slash, pane = os.environ.get("WZP_AGENT", "").partition("/")
    return workspace if workspace and slash and pane else None


def task_outcome(info: dict[str, Any]) -> tuple[str | None, str | None]:
    """A finished task's answer text, and what went wrong (None when it succeeded).

    The result is the agent's reply (a string) or a pool worker's structured result; a
    structured result with ``is_error`` counts as a failure.
    """
    state = info.get("state")
    result = info.get("result")
    if state == "failed":
        return None, f"failed: {info.get('error') or 'unknown reason'}"
    if state == "cancelled":
        return None, "was cancelled"
    if isinstance(result, dict):
        text = str(result.get("text") or "")
        if result.get("is_error"):
            return None, f"failed: {result.get('subtype') or 'error'}: {text}".rstrip(": ")
        return text, None
    return str(result or ""), None


@dataclass(frozen=True)
class Item:
    """One prompt of the input: its position (0-based) and line (1-based)."""

    index: int
    line: int
    prompt: str
    session: str | None
    priority: int | None


class BadInput(Exception):
    """A line of the input that is not a prompt; the message names the file and line."""


def _parse_jsonl(text: str, where: str) -> tuple[str, str | None, int | None]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadInput(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a JSON object with a 'prompt'")
    unknown = sorted(set(data) - JSONL_KEYS)
    if unknown:
        raise BadInput(f"{where}: unknown key {unknown[0]!r} (allowed: prompt, session, priority)")
    prompt, session, priority = data.get("prompt"), data.get("session"), data.get("priority")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput(f"{where}: 'prompt' must be a non-empty string")
    if session is not None and (not isinstance(session, str) or not session):
        raise BadInput(f"{where}: 'session' must be new, reuse or a session id")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise BadInput(f"{where}: 'priority' must be an integer")
    return prompt, session, priority


def read_items(stream: IO[bytes], name: str, jsonl: bool) -> Iterator[Item]:
    """The prompts of ``stream`` one at a time (blank lines skipped); raises BadInput."""
    index = 0
    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise BadInput(f"{where}: not UTF-8 text") from None
        if not text.strip():
            continue
        if jsonl:
            prompt, session, priority = _parse_jsonl(text, where)
        else:
            prompt, session, priority = text, None, None
        if len(prompt) > MAX_PROMPT_CHARS:
            raise BadInput(f"{where}: the prompt is longer than {MAX_PROMPT_CHARS} characters")
        yield Item(index, number, prompt, session, priority)
        index += 1


def _looks_like_jsonl(stream: IO[bytes], name: str) -> bool:
    """JSON lines when the name says so or the first non-blank line starts with ``{``."""
    if name.endswith((".jsonl", ".ndjson")):
        return True
    for raw in stream:
        if raw.strip():
            return raw.lstrip().startswith(b"{")
    return False


def output_line(item: Item, info: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    """The JSON line printed for ``item``: its index, line, task id, state, result, error."""
    result = (info or {}).get("result")
    structured = result if isinstance(result, dict) else {}
    line: dict[str, Any] = {
        "index": item.index,
        "line": item.line,
        "task": (info or {}).get("id"),
        "state": (info or {}).get("state", "failed"),
    }
    for key in RESULT_FIELDS:
        line[key] = structured.get(key)
    if isinstance(result, str):
        line["text"] = result
    line["worker"] = structured.get("worker") or (info or {}).get("agent")
    line["error"] = error if error is not None else (info or {}).get("error")
    return line


class Runner:
    """Submits the items through one connection and prints their results in input order."""

    def __init__(self, client: HubClient, pool: str, defaults: dict[str, Any], window: int):
        self.client = client
        self.pool = pool
        self.defaults = defaults
        self.window = window
        self.pending: deque[tuple[Item, str | None, str | None]] = deque()
        self.failed = 0
        self.printed = 0
        self.stopped: str | None = None  # why no more prompts are submitted

    def submit(self, item: Item) -> None:
        fields: dict[str, Any] = {"prompt": item.prompt, "pool": self.pool, **self.defaults}
        if item.session is not None:
            fields["session"] = item.session
        if item.priority is not None:
            fields["priority"] = item.priority
        try:
            answer = self.client.request("task.submit", **fields)
        except RequestFailed as exc:
            if exc.code in FATAL_CODES:
                self.stopped = exc.message
                return
            self.pending.append((item, None, exc.message))
            return
        self.pending.append((item, str(answer["task"]["id"]), None))

    def finish_head(self) -> None:
        """Wait for the oldest unprinted task and print its line."""
        item, task_id, error = self.pending[0]
        info: dict[str, Any] | None = None
        while task_id is not None:
            try:
                answer = self.client.request("task.wait", task=task_id)
            except RequestFailed as exc:
                error = exc.message
                break
            if answer.get("done"):
                info = answer["task"]
                break
        self.pending.popleft()
        line = output_line(item, info, error)
        if error is not None or info is None or task_outcome(info)[1] is not None:
            self.failed += 1
        click.echo(json.dumps(line))
        self.printed += 1

    def cancel_pending(self) -> int:
        """Cancel every submitted task not printed yet (best effort); how many were.

        The cancels go on a connection of their own: the one the map used may still wait for
        the reply to an interrupted ``task.wait``, which the hub answers only when it ends."""
        cancelled = 0
        ids = [task_id for _item, task_id, _error in self.pending if task_id is not None]
        if not ids:
            return 0
        with (
            contextlib.suppress(DaemonNotRunning, UnsafeHub, OSError),
            HubClient(timeout=CANCEL_TIMEOUT_S) as client,
        ):
            for task_id in ids:
                with contextlib.suppress(RequestFailed):  # it ended meanwhile
                    client.request("task.cancel", task=task_id)
                    cancelled += 1
        return cancelled


def _spool(source: IO[bytes]) -> IO[bytes]:
    """A pipe's bytes copied to an unnamed temp file (read twice, never held in memory)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    while chunk := source.read(SPOOL_CHUNK):
        spool.write(chunk)
    spool.seek(0)
    return spool


def _open_input(file: str) -> tuple[IO[bytes], str]:
    """FILE opened for reading twice: ``-`` and pipes (``<(cmd)``) are spooled first."""
    if file == "-":
        return _spool(sys.stdin.buffer), "<stdin>"
    try:
        stream = Path(file).open("rb")  # noqa: SIM115 - closed by the caller
        if stream.seekable():
            return stream, file
        with stream:
            return _spool(stream), file
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")


def _count(stream: IO[bytes], name: str, jsonl: bool) -> int:
    """Check every line (raises BadInput) and count the prompts."""
    stream.seek(0)
    total = sum(1 for _ in read_items(stream, name, jsonl))
    stream.seek(0)
    return total


def _hub_failure(exc: Exception) -> NoReturn:
    if isinstance(exc, DaemonNotRunning):
        fail(NOT_RUNNING, EXIT_NOT_RUNNING)
    if isinstance(exc, RequestFailed):
        fail(exc.message)
    fail(str(exc) if isinstance(exc, UnsafeHub) else f"lost the connection to the daemon: {exc}")


def _progress() -> Progress | None:
    """A rich progress bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _run(runner: Runner, stream: IO[bytes], name: str, jsonl: bool, total: int) -> None:
    progress = _progress()

    def advance() -> None:
        runner.finish_head()
        if progress is not None:
            progress.update(bar, completed=runner.printed)

    if progress is not None:
        progress.start()
        bar = progress.add_task(f"pool {runner.pool}", total=total)
    try:
        for item in read_items(stream, name, jsonl):
            if runner.stopped is not None:
                break
            while len(runner.pending) >= runner.window:
                advance()
            runner.submit(item)
        while runner.pending:
            advance()
    finally:
        if progress is not None:
            progress.stop()


@click.command(name="map")
@click.argument("file", metavar="FILE")
@click.option("--pool", "-p", required=True, help="The pool whose workers run the prompts.")
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "lines", "jsonl"]),
    default="auto",
    show_default=True,
    help="auto: JSON lines when the first line starts with '{' or FILE ends in .jsonl.",
)
@click.option(
    "--workspace",
    "-w",
    help="The workspace the tasks count for (default: the pane's, from $WZP_AGENT).",
)
@click.option("--session", metavar="new|reuse|ID", help="Session for prompts that name none.")
@click.option("--priority", type=int, default=None, help="Priority for prompts that name none.")
@click.option(
    "--window",
    type=click.IntRange(1, 500),
    default=64,
    show_default=True,
    help="At most this many prompts submitted and not yet printed.",
)
def task_map(
    file: str,
    pool: str,
    input_format: str,
    workspace: str | None,
    session: str | None,
    priority: int | None,
    window: int,
) -> None:
    """Run every prompt of FILE (one per line, or JSON lines; - for stdin) on pool workers
    and print the results as JSON lines in input order; exits 1 when any task failed."""
    stream, name = _open_input(file)
    with stream:
        jsonl = input_format == "jsonl" or (
            input_format == "auto" and _looks_like_jsonl(stream, name)
        )
        try:
            total = _count(stream, name, jsonl)
        except BadInput as exc:
            fail(str(exc))
        if total == 0:
            echo(f"wzp: no prompts in {name}", err=True)
            return
        defaults: dict[str, Any] = {}
        workspace = workspace or calling_workspace()
        if workspace:
            defaults["workspace"] = workspace
        if session is not None:
            defaults["session"] = session
        if priority is not None:
            defaults["priority"] = priority
        try:
            with HubClient(timeout=None) as client:
                runner = Runner(client, pool, defaults, window)
                try:
                    _run(runner, stream, name, jsonl, total)
                except KeyboardInterrupt:
                    cancelled = runner.cancel_pending()
                    fail(f"interrupted; cancelled {cancelled} unfinished tasks", EXIT_INTERRUPTED)
        except BrokenPipeError:
            raise
        except (DaemonNotRunning, UnsafeHub, RequestFailed, OSError) as exc:
            _hub_failure(exc)
    if runner.stopped is not None:
        fail(f"stopped submitting after {runner.printed} prompts: {runner.stopped}")
    if runner.failed:
        fail(f"{runner.failed} of {runner.printed} tasks failed", EXIT_FAILED)

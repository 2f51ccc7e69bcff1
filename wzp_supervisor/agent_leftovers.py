"""What a stopped pane's agent left running, found from its holder's agent record and ended.

The holder ends its agent's leftovers itself when the agent exits. When the holder is gone
first (SIGKILLed, or killed at the end of a stop timeout), the daemon does it after the stop:
the agent record (``paths.agent_record_file``) names the agent's pid, create time and instance
token, and ``session.leftovers`` finds the rest of its session and every carrier of the token
(a ``setsid -f`` child included). After a full ``wzp down`` the records and holder sockets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from wzp_supervisor import paths
from wzp_supervisor.session import agent_record, leftovers
from wzp_supervisor.templates import PaneSpec

log = logging.getLogger(__name__)


def end_leftovers(workspace: str, pane: str) -> int:
    """End what the last agent of ``workspace/pane`` left running; how many were ended.

    Call only once the pane's holder is gone (it would end the same processes itself).
    """
    record = agent_record.read(paths.agent_record_file(workspace, pane))
    if record is None:
        return 0
    pid, created = record["agent_pid"], record["agent_create_time"]
    same = leftovers.is_alive(pid, created)  # else the pid may be someone else's by now
    if not sys.platform.startswith("linux"):  # no /proc: the agent's process group only
        if same:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
        return 0
    pids = leftovers.find(pid if same else None, record["instance"], created)
    if pids:
        leftovers.end(pids)
        log.info("%s/%s: ended %d process(es) its agent left running", workspace, pane, len(pids))
    return len(pids)


async def after_stop(spec: PaneSpec) -> None:
    """``end_leftovers`` for a pane whose holder was just stopped (in a worker thread)."""
    try:
        await asyncio.to_thread(end_leftovers, spec.workspace, spec.pane)
    except Exception:
        log.exception("%s: could not end what its agent left running", spec.target)


def remove_session_files() -> None:
    """Remove the holders' sockets and agent records (after every holder has ended)."""
    sessions = paths.runtime_base() / "s"
    try:
        entries = list(os.scandir(sessions))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.endswith((".sock", ".agent")) or ".agent." in entry.name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    with contextlib.suppress(OSError):
        sessions.rmdir()  # only when empty

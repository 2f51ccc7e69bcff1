"""The program a holder runs, as the holder sees it: start, record, exit, leftovers.

Before starting, the holder ends an agent of the same target that outlived its holder (named
by the agent record next to the socket, verified by pid and create time) and whatever still
carries that agent's token. The new agent starts on a fresh PTY with its own token; its pid,
create time, start time and session id go to the agent record. When it exits, what it left
(its session, its token's carriers) is ended before the exit is recorded and reported.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wzp_supervisor.session import agent_record, leftovers
from wzp_supervisor.session.agent_record import AgentRecord, LastExit
from wzp_supervisor.session.holder_args import Options
from wzp_supervisor.session.process import StartError, spawn
from wzp_supervisor.session.wire import PROTOCOL_VERSION

_SESSION_FLAGS = ("--session-id", "--resume")


def _session_id(argv: list[str]) -> str | None:
    for flag in _SESSION_FLAGS:
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1]
    return None


class Agent:
    """One run of the held program."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.record_path = agent_record.record_path(opts.socket)
        self.token = leftovers.new_token()
        self.pid = 0
        self.create_time: float | None = None
        self.started_at = 0.0
        self.session_id: str | None = None
        self.last_exit: LastExit | None = None

    def end_previous(self, note: Callable[[str], None]) -> None:
        """End the agent of an earlier holder of this target if it still runs (Linux)."""
        old = agent_record.read(self.record_path)
        if old is None or not sys.platform.startswith("linux"):
            return
        pid = old["agent_pid"]
        same = leftovers.is_alive(pid, old["agent_create_time"])
        pids = leftovers.find(pid if same else None, old["instance"], old["agent_create_time"])
        if pids:
            leftovers.end(pids)
            note(
                f"wzp holder: ended {len(pids)} process(es) left running by the previous "
                f"agent (pid {pid})"
            )

    def start(self, note: Callable[[str], None], cols: int, rows: int) -> int:
        """Start the program on a new PTY; the PTY master's fd."""
        opts = self.opts
        argv = list(opts.argv)
        if opts.agent == "claude" and opts.session_file is not None:
            from wzp_supervisor.agents import claude

            cwd = opts.cwd or Path.cwd()
            try:
                argv = claude.launch_argv(argv, opts.session_file, cwd, note)
            except Exception as exc:
                raise StartError(f"cannot build the claude command line: {exc}") from exc
            self.session_id = _session_id(argv)
        env = dict(os.environ)
        env.setdefault("TERM", "xterm-256color")
        env[leftovers.INSTANCE_VAR] = self.token
        self.started_at = time.time()
        self.pid, master = spawn(argv, opts.cwd, env, opts.rlimits, cols, rows)
        self.create_time = leftovers.create_time(self.pid)
        self.save()
        return master

    def exited(self, status: int) -> None:
        """The program ended with wait ``status``: end its leftovers, record the exit."""
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        self.last_exit = {"code": code, "signal": signum, "time": time.time()}
        leftovers.end_agent(self.pid, self.token, self.create_time)
        self.save()

    def save(self) -> None:
        """Write the agent record (a failure costs only the record)."""
        record: AgentRecord = {
            "protocol": PROTOCOL_VERSION,
            "target": self.opts.target,
            "holder_pid": os.getpid(),
            "agent_pid": self.pid,
            "agent_create_time": self.create_time,
            "agent_started_at": self.started_at,
            "instance": self.token,
            "session_id": self.session_id,
            "last_exit": self.last_exit,
        }
        with contextlib.suppress(OSError):
            agent_record.write(self.record_path, record)

    def describe(self) -> dict[str, Any]:
        """The agent's part of the holder's ``info`` reply."""
        return {
            "protocol": PROTOCOL_VERSION,
            "agent_pid": self.pid,
            "agent_create_time": self.create_time,
            "agent_started_at": self.started_at,
            "session_id": self.session_id,
            "last_exit": self.last_exit,
        }

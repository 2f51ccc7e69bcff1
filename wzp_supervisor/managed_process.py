"""One supervised pane as the process table keeps it: its spec, desired and current state,
pid, restart bookkeeping and how it is listed; and the error the table refuses requests with."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from wzp_supervisor.restart_policy import RestartTracker
from wzp_supervisor.states import ProcessInfo, ProcessState
from wzp_supervisor.templates import PaneSpec

ProcState = ProcessState


class ProcessTableError(Exception):
    """A request the supervisor refuses; ``code`` is the hub error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ManagedProcess:
    """One supervised pane and everything known about its process."""

    spec: PaneSpec
    tracker: RestartTracker
    name: str
    desired: Literal["running", "stopped"] = "running"
    state: ProcState = "stopped"
    since: float = field(default_factory=time.time)
    pid: int | None = None
    create_time: float | None = None
    started_at: float | None = None
    exit_code: int | None = None
    restarts: int = 0
    next_try: float | None = None
    attempt: int = 0
    reason: str = ""
    timer: asyncio.TimerHandle | None = None
    busy: bool = False  # a stop/start is in progress
    missing_program: str | None = None  # e.g. "claude-code: not found on PATH"
    # The environment its watcher starts it with (resolved, in memory only; never listed).
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def target(self) -> str:
        return self.spec.target

    def set_state(self, state: ProcState, reason: str = "") -> None:
        if state != self.state:
            self.since = time.time()
        self.state = state
        self.reason = reason

    def info(self) -> ProcessInfo:
        """A JSON-ready description for status listings."""
        now = time.time()
        return {
            "target": self.target,
            "workspace": self.spec.workspace,
            "pane": self.spec.pane,
            "kind": self.spec.agent,
            "state": self.state,
            "since": self.since,
            "desired": self.desired,
            "pid": self.pid,
            "uptime": (now - self.started_at) if self.started_at and self.pid else None,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            "next_try": self.next_try,
            "attempt": self.attempt,
            "reason": self.reason,
            "restart_policy": self.spec.restart_policy,
            "command": list(self.spec.argv),
            "cwd": os.fspath(self.spec.cwd),
        }

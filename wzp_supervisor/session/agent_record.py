"""The agent record: a small JSON file next to the holder's socket naming the agent it runs.

``s/WS.PANE.agent`` (the socket's name with ``.agent``), mode 0600, replaced atomically::

    {"protocol": 1, "target": "ws/pane", "holder_pid": 123, "agent_pid": 124,
     "agent_create_time": 1764400000.12, "agent_started_at": 1764400000.13,
     "instance": "<token>", "session_id": "<uuid>" | null,
     "last_exit": null | {"code": int | null, "signal": int | null, "time": float}}

The holder writes it when the agent starts and again when it exits (``last_exit``), and
leaves it behind when it ends: a new holder for the same target reads it to end an old
agent that outlived its holder, and a daemon can read what happened while it was away.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypedDict


class LastExit(TypedDict):
    """How the agent ended."""

    code: int | None
    signal: int | None
    time: float


class AgentRecord(TypedDict):
    """The content of an agent record file."""

    protocol: int
    target: str
    holder_pid: int
    agent_pid: int
    agent_create_time: float | None
    agent_started_at: float
    instance: str
    session_id: str | None
    last_exit: LastExit | None


def record_path(socket_path: Path) -> Path:
    """Where the holder serving ``socket_path`` keeps its agent record."""
    return socket_path.with_suffix(".agent")


def write(path: Path, record: AgentRecord) -> None:
    """Replace the record at ``path`` atomically (0600)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        os.write(fd, json.dumps(record, separators=(",", ":")).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read(path: Path) -> AgentRecord | None:
    """The record at ``path``, or None when missing or not a record."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("agent_pid")
    created = data.get("agent_create_time")
    instance = data.get("instance")
    if type(pid) is not int or pid <= 1:
        return None
    if created is not None and type(created) not in (int, float):
        return None
    if not isinstance(instance, str):
        return None
    record: AgentRecord = data  # type: ignore[assignment]
    return record

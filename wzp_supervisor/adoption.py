"""Finding the session holders a previous daemon left running, so a new daemon adopts them.

A daemon that was SIGKILLed, crashed, or replaced itself (``wzp daemon restart``) leaves its
holders running: their agents must not notice. Each recorded holder is verified before it is
adopted: its pid is alive with the recorded create time, and the socket its command line names
answers ``info`` as the same target with the same pid. What cannot be verified is stopped, with
the reason in the log: a holder of this runtime dir that no record names (a crash between
spawn and save), a holder whose socket does not answer, or one that answers as another.

A holder started by an older version (another holder protocol, or a socket where this version
would not look) is adopted as *outdated*: it keeps running, and the daemon restarts the
outdated ones one at a time afterwards (a Claude agent resumes its conversation).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from wzp_supervisor import paths
from wzp_supervisor.process_tree import pid_matches, terminate_tree
from wzp_supervisor.session import control, wire

log = logging.getLogger("wzp.daemon")

VERIFY_TIMEOUT = 5.0
"""Seconds a holder's socket has to answer ``info``."""


@dataclass
class Survivors:
    """The holders to adopt: ``{target: holder pid}``, and which of them are outdated."""

    holders: dict[str, int] = field(default_factory=dict)
    outdated: set[str] = field(default_factory=set)


async def verify_survivors(state: Mapping[str, Any]) -> Survivors:
    """The verified holders of the previous daemon; every other leftover is stopped."""
    found = Survivors()
    victims: list[int] = []
    checks = []
    for target, record in state.get("processes", {}).items():
        pid, created = record.get("pid"), record.get("create_time")
        if isinstance(pid, int) and isinstance(created, int | float) and pid_matches(pid, created):
            checks.append((target, pid))
    answers = await asyncio.gather(*(_verify(target, pid) for target, pid in checks))
    for (target, pid), (problem, outdated) in zip(checks, answers, strict=True):
        if problem is None:
            found.holders[target] = pid
            if outdated:
                found.outdated.add(target)
            log.info("adopting %s (holder pid %s%s)", target, pid, ", outdated" * outdated)
        else:
            log.warning("stopping %s (holder pid %s): %s", target, pid, problem)
            victims.append(pid)
    victims += _unrecorded_holders(set(found.holders.values()) | set(victims))
    await asyncio.gather(*(terminate_tree(pid, 5.0) for pid in victims))
    return found


async def _verify(target: str, pid: int) -> tuple[str | None, bool]:
    """(None, outdated) when holder ``pid`` answers on its socket as ``target``, else
    (the problem, False)."""
    workspace, _, pane = target.partition("/")
    expected = paths.session_socket(workspace, pane)
    socket_path = _socket_of(pid) or expected
    try:
        info = await asyncio.to_thread(control.info, socket_path, timeout=VERIFY_TIMEOUT)
    except control.SessionError as exc:
        return f"its socket does not answer ({exc})", False
    if info.get("target") != target or info.get("pid") != pid:
        return f"its socket answers as {info.get('target')!r} pid {info.get('pid')!r}", False
    outdated = info.get("protocol") != wire.PROTOCOL_VERSION or socket_path != expected
    return None, outdated


def _socket_of(pid: int) -> Path | None:
    """The socket named by holder ``pid``'s command line (``--socket PATH``)."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    if "--socket" in cmdline[:-1]:
        return Path(cmdline[cmdline.index("--socket") + 1])
    return None


def _unrecorded_holders(known: set[int]) -> list[int]:
    """Holders of this runtime dir (by command line) that no verified record names."""
    marker = os.fspath(paths.runtime_base())
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        pid = proc.info["pid"]
        if (
            pid not in known
            and pid != os.getpid()
            and "wzp_supervisor.session.holder" in cmdline
            and any(arg.startswith(marker) for arg in cmdline)
        ):
            log.warning("stopping holder pid %s that no record names", pid)
            found.append(pid)
    return found

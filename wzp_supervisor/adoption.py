"""Finding the session holders a previous daemon left running, so a new daemon adopts them.

A daemon that was SIGKILLed, crashed, or replaced itself (``wzp daemon restart``) leaves its
holders running: their agents must not notice. Each recorded holder is verified before it is
adopted: its pid is alive with the recorded create time, and its socket answers ``info`` as
the same target with the same pid. What cannot be verified is stopped, with the reason in the
log: a holder of this runtime dir that no record names (a crash between spawn and save), a
holder whose socket does not answer, or one that answers as another.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import psutil

from wzp_supervisor import paths
from wzp_supervisor.circus_backend import pid_matches, terminate_tree
from wzp_supervisor.session import control

log = logging.getLogger("wzp.daemon")

VERIFY_TIMEOUT = 5.0
"""Seconds a holder's socket has to answer ``info``."""


async def verify_survivors(state: Mapping[str, Any]) -> dict[str, int]:
    """``{target: holder pid}`` of the verified holders; every other leftover is stopped."""
    survivors: dict[str, int] = {}
    victims: list[int] = []
    checks = []
    for target, record in state.get("processes", {}).items():
        pid, created = record.get("pid"), record.get("create_time")
        if isinstance(pid, int) and isinstance(created, int | float) and pid_matches(pid, created):
            checks.append((target, pid))
    answers = await asyncio.gather(*(_verify(target, pid) for target, pid in checks))
    for (target, pid), problem in zip(checks, answers, strict=True):
        if problem is None:
            survivors[target] = pid
            log.info("adopting %s (holder pid %s)", target, pid)
        else:
            log.warning("stopping %s (holder pid %s): %s", target, pid, problem)
            victims.append(pid)
    victims += _unrecorded_holders(set(survivors.values()) | set(victims))
    await asyncio.gather(*(terminate_tree(pid, 5.0) for pid in victims))
    return survivors


async def _verify(target: str, pid: int) -> str | None:
    """None when the holder at ``target``'s socket is ``pid`` and serves ``target``."""
    workspace, _, pane = target.partition("/")
    socket_path = paths.session_socket(workspace, pane)
    try:
        info = await asyncio.to_thread(control.info, socket_path, timeout=VERIFY_TIMEOUT)
    except control.SessionError as exc:
        return f"its socket does not answer ({exc})"
    if info.get("target") != target or info.get("pid") != pid:
        return f"its socket answers as {info.get('target')!r} pid {info.get('pid')!r}"
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

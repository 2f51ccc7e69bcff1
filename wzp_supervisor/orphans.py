"""Processes a SIGKILLed daemon left behind: found by recorded pid and create time, and by
the command line of session holders of this runtime dir."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import psutil

from wzp_supervisor import paths
from wzp_supervisor.circus_backend import pid_matches, terminate_tree

log = logging.getLogger("wzp.daemon")


async def reap_orphans(state: Mapping[str, Any]) -> None:
    """Stop processes left behind by a daemon that was SIGKILLed, before anything respawns.

    Recorded (pid, create time) pairs are matched exactly; holders of this runtime dir that
    no record names (a crash between spawn and save) are found by their command line.
    """
    victims: list[tuple[int, float]] = []
    for target, record in state.get("processes", {}).items():
        pid, created = record.get("pid"), record.get("create_time")
        if isinstance(pid, int) and isinstance(created, float) and pid_matches(pid, created):
            log.warning("stopping %s (pid %s) left over from a previous daemon", target, pid)
            victims.append((pid, 5.0))
    marker = os.fspath(paths.runtime_base())
    seen = {pid for pid, _ in victims}
    for proc in psutil.process_iter(["pid", "cmdline", "uids"]):
        cmdline = proc.info.get("cmdline") or []
        if (
            proc.info["pid"] not in seen
            and "wzp_supervisor.session.holder" in cmdline
            and any(arg.startswith(marker) for arg in cmdline)
            and proc.info["pid"] != os.getpid()
        ):
            log.warning("stopping orphaned holder pid %s", proc.info["pid"])
            victims.append((proc.info["pid"], 5.0))
    await asyncio.gather(*(terminate_tree(pid, timeout) for pid, timeout in victims))

"""Shared pieces of the trust table's rows: sizes, verdicts, a sandbox with one template,
and the duplicate/orphan census."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wzp_harness import (
    PY,
    SLEEP_CODE,
    Sandbox,
    grid_template,
)

Row = tuple[str, str, str]
"""(what, figure, verdict)."""

SLEEPER = f"{PY} -c '{SLEEP_CODE}'"
SYSTEM_PY = "/usr/bin/python3"


@dataclass
class Sizes:
    load_agents: int = 100
    load_seconds: float = 30.0
    kill_interval: float = 0.2
    slowloris: int = 1000
    slowloris_procs: int = 10
    tasks: int = 50


def held(problems: list[str]) -> str:
    return "held" if not problems else "DEFECT: " + "; ".join(problems)


def close_checked(sb: Sandbox, problems: list[str]) -> list[str]:
    """Bring the sandbox down; each process that outlived `wzp down` is a problem."""
    left = sb.close()
    if left:
        problems.append(f"{len(left)} processes outlived `wzp down`: {left[:2]}")
    return left


def settled_status(sb: Sandbox, seconds: float = 60.0) -> list[dict[str, Any]]:
    """``wzp status`` once every process is running, fatal or exited (or ``seconds`` passed)."""
    deadline = time.monotonic() + seconds
    procs = sb.status()
    while time.monotonic() < deadline:
        procs = sb.status()
        if procs and all(p["state"] in ("running", "fatal", "exited") for p in procs):
            break
        time.sleep(0.2)
    return procs


def one_workspace(prefix: str) -> Sandbox:
    """A sandbox whose template ``t`` is four sleeper panes, with its daemon up."""
    sb = Sandbox(prefix, {"t": grid_template(SLEEPER)})
    up = sb.wzp("up")
    if up.returncode != 0:
        sb.close()
        raise RuntimeError(f"wzp up failed: {up.stderr.strip()}")
    return sb


def dup_and_orphans(sb: Sandbox) -> tuple[list[str], list[str]]:
    """Targets with more than one holder or agent; agent processes whose holder is gone."""
    dups: list[str] = []
    holders: dict[str, int] = {}
    for proc in sb.holders():
        with contextlib.suppress(psutil.Error, ValueError, IndexError):
            args = proc.cmdline()
            target = args[args.index("--target") + 1]
            holders[target] = holders.get(target, 0) + 1
    dups += [f"{t}: {n} holders" for t, n in holders.items() if n > 1]
    holder_pids = {p.pid for p in sb.holders()}
    orphans: list[str] = []
    for target, procs in sb.agent_processes().items():
        tops = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.ppid() in holder_pids:
                    tops.append(proc)
                elif proc.ppid() == 1 or not psutil.pid_exists(proc.ppid()):
                    orphans.append(f"{target}: pid {proc.pid} ({' '.join(proc.cmdline())[:40]})")
        if len(tops) > 1:
            dups.append(f"{target}: {len(tops)} agents")
    return dups, orphans


def describe(proc: psutil.Process) -> str:
    """pid, pane (WZP_AGENT), parent and command line of a process."""
    try:
        agent = proc.environ().get("WZP_AGENT", "?")
        return f"pid {proc.pid} of {agent} (ppid {proc.ppid()}): {' '.join(proc.cmdline())[:50]}"
    except psutil.Error:
        return f"pid {proc.pid} (gone)"


def safe_cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""

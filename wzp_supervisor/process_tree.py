"""Signalling a process tree: its group, every descendant, and waiting until they are gone.

Stopping a pane reaches what its program started, even in other process groups; a program
that hangs up on SIGHUP (an interactive shell) gets that first, one that handles SIGTERM gets
SIGTERM first, and SIGKILL follows after the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
from collections.abc import Iterable

import psutil

log = logging.getLogger(__name__)


def signal_tree(pid: int, sig: int) -> list[psutil.Process]:
    """Send ``sig`` to the process group led by ``pid`` and to every descendant of ``pid``.

    Returns the processes signalled, so the caller can wait for them and escalate.
    """
    targets: list[psutil.Process] = []
    try:
        root = psutil.Process(pid)
        targets = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("no permission to signal process group %s", pid)
    _signal_all(targets, sig)
    return targets


def _signal_all(processes: Iterable[psutil.Process], sig: int) -> None:
    for proc in processes:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
        except psutil.AccessDenied:
            log.warning("no permission to signal pid %s", proc.pid)


HANGUP_GRACE = 1.0
"""Seconds between the hang-up and the SIGTERM that follows it for what is still running."""


def _signal_mask(pid: int, field: str) -> int | None:
    """A signal mask (``SigCgt``, ``SigIgn``) of ``pid`` from /proc; None where unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name == field:
                    return int(value.strip(), 16)
    except (OSError, ValueError):
        pass
    return None


def stop_signals(pid: int) -> tuple[int, int | None]:
    """The signal that starts stopping ``pid`` and the one sent after ``HANGUP_GRACE``.

    A terminal's way is a hang-up: interactive shells ignore SIGTERM and exit on SIGHUP. A
    program that handles SIGTERM itself gets SIGTERM alone, so its own clean-up runs (SIGHUP
    would end it at once where it left SIGHUP at its default). Where the handlers cannot be
    read (no /proc), SIGTERM comes first and the hang-up follows.
    """
    caught = _signal_mask(pid, "SigCgt")
    if caught is None:
        return signal.SIGTERM, signal.SIGHUP
    if caught & (1 << (signal.SIGTERM - 1)):
        return signal.SIGTERM, None
    return signal.SIGHUP, signal.SIGTERM


async def terminate_tree(pid: int, timeout: float, first: int = signal.SIGTERM) -> None:
    """Stop a process tree, then SIGKILL what is left after ``timeout``.

    With ``first`` SIGTERM (a graceful stop) the process group of ``pid`` gets SIGTERM and
    every other descendant gets a hang-up or SIGTERM by ``stop_signals``, then the other one
    after ``HANGUP_GRACE`` if it still runs.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if first != signal.SIGTERM:
        targets = signal_tree(pid, first)
    else:
        targets = _tree(pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        later: list[tuple[psutil.Process, int]] = []
        for proc in targets:
            if _group_of(proc) == pid:
                continue  # the group signal reached it
            now, then = stop_signals(proc.pid)
            _signal_all([proc], now)
            if then is not None:
                later.append((proc, then))
        grace = loop.time() + min(HANGUP_GRACE, timeout)
        while _alive(p for p, _ in later) and loop.time() < grace:
            await asyncio.sleep(0.02)
        for proc, sig in later:
            if is_running(proc):
                _signal_all([proc], sig)
    if first != signal.SIGKILL:
        while _alive(targets) and loop.time() < deadline:
            await asyncio.sleep(0.02)
    left = [p for p in targets if is_running(p)]
    if left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _signal_all(left, signal.SIGKILL)


def _tree(pid: int) -> list[psutil.Process]:
    """``pid`` and every descendant (empty when ``pid`` is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _group_of(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def is_running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _alive(processes: Iterable[psutil.Process]) -> bool:
    return any(is_running(p) for p in processes)


def pid_matches(pid: int, create_time: float) -> bool:
    """Whether ``pid`` is still the process that was started at ``create_time``."""
    try:
        return abs(psutil.Process(pid).create_time() - create_time) < 0.05
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    except OSError as exc:  # pragma: no cover - platform quirks
        if exc.errno == errno.ESRCH:
            return False
        raise

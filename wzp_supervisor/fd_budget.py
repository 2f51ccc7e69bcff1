"""How many file descriptors the daemon may spend, and on what (standard library only).

Measured on Linux with a real daemon (``/proc/<daemon pid>/fd``): 18 descriptors at rest
with no agent (locks, logs, the event loop, the hub and Circus sockets), then 6 per agent
whose program is a single process: 2 pipes and 2 log files held by Circus for the session
holder's output, and 1 ``/proc/<pid>/stat`` kept open by the resource sampler for each process
of the agent's tree (holder and agent). An agent that runs child processes costs one more per
child while they live. The budget below keeps room for that, for the hub's clients and for
short-lived descriptors (spawning, saving state).
"""

from __future__ import annotations

import resource
import sys

__all__ = [
    "BASE_FDS",
    "FDS_PER_AGENT",
    "hub_connection_cap",
    "max_agents_for_fd_limit",
    "nofile_limit",
    "per_peer_connection_cap",
    "raise_nofile_limit",
]

#: Descriptors the daemon needs with no agent, plus room for short-lived ones.
BASE_FDS = 32

#: Descriptors one agent costs the daemon: 6 measured, plus room for two child processes.
FDS_PER_AGENT = 8

#: Bounds of the hub's connection cap (see :func:`hub_connection_cap`).
MIN_HUB_CONNECTIONS = 8
MAX_HUB_CONNECTIONS = 256

# What to ask for when the hard limit is "unlimited" (macOS refuses RLIM_INFINITY as soft).
_UNLIMITED_FALLBACK = 1 << 16


def nofile_limit() -> int:
    """The current soft limit on open files (RLIMIT_NOFILE)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _UNLIMITED_FALLBACK if soft == resource.RLIM_INFINITY else int(soft)


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as far as the OS allows); the new soft.

    Never lowers it and never fails: when the OS refuses, the limit stays as it was.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft == hard:
        return nofile_limit()
    targets = [hard]
    if hard == resource.RLIM_INFINITY or sys.platform == "darwin":
        # macOS caps a process at kern.maxfilesperproc (often 10240..24576) below "unlimited".
        targets = [t for t in (hard, _UNLIMITED_FALLBACK, 24576, 10240) if t != soft]
    for target in targets:
        if target != resource.RLIM_INFINITY and target <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        break
    return nofile_limit()


def hub_connection_cap(limit: int) -> int:
    """How many hub clients may be connected at once under an open-files ``limit``.

    An eighth of the limit, at least 8 and at most 256.
    """
    return max(MIN_HUB_CONNECTIONS, min(MAX_HUB_CONNECTIONS, limit // 8))


def per_peer_connection_cap(total: int) -> int:
    """How many of ``total`` hub connections one client process may hold (a quarter, >= 4)."""
    return max(4, total // 4)


def max_agents_for_fd_limit(limit: int) -> int:
    """How many agents the daemon can run under an open-files ``limit`` (0 when none).

    ``(limit - BASE_FDS - hub_connection_cap(limit)) // FDS_PER_AGENT``: 1024 allows 108
    agents, 4096 allows 476, 65536 allows 8156.
    """
    if limit <= 0:
        return 0
    spare = limit - BASE_FDS - hub_connection_cap(limit)
    return max(0, spare // FDS_PER_AGENT)

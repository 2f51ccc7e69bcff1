"""Finding and ending what an agent left behind: its session, and whatever carries its mark.

Each agent runs with ``WZP_AGENT_INSTANCE=<random token>`` in its environment, inherited by
everything it starts, including a ``setsid -f`` double fork that leaves its session. Its
leftovers are the live processes of its session (the agent is the session leader, so the
session id is its pid) plus every process whose environment carries its token. Processes of
wzp itself (a daemon or holder started from inside an agent) are never counted.

Linux reads ``/proc``; elsewhere only the agent's process group is signalled. Standard
library only: the holder imports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

INSTANCE_VAR = "WZP_AGENT_INSTANCE"
END_GRACE = 2.0  # SIGTERM, then SIGKILL after this long
_PROC = Path("/proc")
_POLL = 0.02


def new_token() -> str:
    """A fresh agent-instance token."""
    return os.urandom(8).hex()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (field 3 of proc(5) is index 0)."""
    try:
        data = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].decode().split()


def _boot_time() -> float:
    for line in (_PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def create_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch (as psutil computes it); None if
    unknown or gone."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    try:
        return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def is_alive(pid: int, created: float | None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``created`` is given, is the same
    process (same create time, so not a reused pid)."""
    fields = _stat_fields(pid)
    if fields is None:
        if _PROC.is_dir():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return created is None
    if fields[0] == "Z":
        return False
    if created is None:
        return True
    now = create_time(pid)
    return now is not None and abs(now - created) < 0.05


def _is_wzp(pid: int) -> bool:
    try:
        return b"wzp_supervisor" in (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def find(session: int | None, token: str | None, since: float | None = None) -> list[int]:
    """Live processes of ``session`` and carriers of ``token`` (never us, never wzp).

    ``since``: when the agent started; older processes cannot carry its token and are not
    read (keeps the scan cheap).
    """
    if not _PROC.is_dir():
        return []
    mark = f"{INSTANCE_VAR}={token}\0".encode() if token else None
    try:
        first_tick = (since - _boot_time()) * os.sysconf("SC_CLK_TCK") - 5 if since else 0.0
    except (OSError, ValueError):
        first_tick = 0.0
    found = []
    me = os.getpid()
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields is None or fields[0] == "Z":
            continue
        hit = session is not None and fields[3] == str(session)
        if not hit and mark is not None and int(fields[19]) >= first_tick:
            try:
                hit = mark in (_PROC / entry.name / "environ").read_bytes()
            except OSError:
                hit = False
        if hit and not _is_wzp(pid):
            found.append(pid)
    return found


def end(pids: list[int], grace: float = END_GRACE) -> None:
    """SIGTERM ``pids``, then SIGKILL those still alive after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while True:
            pids = [pid for pid in pids if is_alive(pid, None)]
            if not pids or time.monotonic() > deadline:
                break
            time.sleep(_POLL)


def end_agent(agent: int, token: str | None, since: float | None = None) -> int:
    """End what is left of the agent ``agent`` (its session, its token's carriers; ``since``
    as for ``find``); how many processes were signalled."""
    if not _PROC.is_dir():
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(agent, sig)
        return 0
    pids = find(agent, token, since)
    if pids:
        end(pids)
    return len(pids)

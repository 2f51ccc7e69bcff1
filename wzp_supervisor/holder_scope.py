"""Session holders outside the service's cgroup, so agents outlive the daemon under systemd.

The unit keeps ``KillMode=mixed``: on stop, SIGTERM reaches the daemon alone and it stops the
agents in order; whatever is left in the unit's cgroup when the daemon dies is killed. Holders
must therefore not be in that cgroup, or a daemon crash, ``systemctl --user restart`` or
``systemctl --user kill`` would take every agent with it. Each holder is started through
``systemd-run --user --scope``, which asks the user manager for a transient scope unit (in the
slice :data:`AGENT_SLICE`), moves itself into it and then execs the holder in place: the pid
Circus sees is the holder's, and the holder and its agent live in their own cgroup.

Why not the alternatives: ``KillMode=process`` leaves the holders in the daemon's cgroup (a
restarted service finds "left-over processes", shares their resource accounting and limits,
and ``systemctl stop`` can no longer clean up after a daemon that hung); ``Delegate=yes`` only
hands the daemon a subtree of the same cgroup, which the service's kill still covers.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["AGENT_SLICE", "scope_prefix", "under_systemd_user_manager"]

#: The slice every holder scope goes in (``systemctl --user status app-wzp.slice`` lists
#: them; limits set on it apply to all agents together).
AGENT_SLICE = "app-wzp.slice"


def under_systemd_user_manager(environ: Mapping[str, str] | None = None) -> bool:
    """True when this process is a unit of a reachable systemd user manager.

    The user manager sets ``MANAGERPID`` and ``INVOCATION_ID`` for the processes of its units;
    its private socket in ``$XDG_RUNTIME_DIR/systemd/`` is what ``systemd-run`` talks to.
    """
    env = os.environ if environ is None else environ
    if not env.get("INVOCATION_ID") or not env.get("MANAGERPID"):
        return False
    runtime = env.get("XDG_RUNTIME_DIR", "")
    return os.path.isabs(runtime) and (Path(runtime) / "systemd" / "private").exists()


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:200]


def scope_prefix(
    target: str,
    *,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """The argv to put before a holder's command so it runs in its own systemd scope.

    Empty when the daemon does not run under a systemd user manager or ``systemd-run`` is
    missing: the holder is then started as it is. ``target`` (``ws/pane``) names the scope's
    description. The scope's name is left to systemd (``run-r….scope``): a fixed name could
    collide with the scope of a previous holder that still has processes.
    """
    env = os.environ if environ is None else environ
    if not under_systemd_user_manager(env):
        return []
    systemd_run = which("systemd-run")
    if systemd_run is None:
        return []
    return [
        systemd_run,
        "--user",
        "--scope",
        "--quiet",
        "--collect",
        f"--slice={AGENT_SLICE}",
        f"--description=wezterm-parallel agent {_printable(target)}",
        "--",
    ]

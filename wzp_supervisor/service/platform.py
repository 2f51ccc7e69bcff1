"""What the service is installed for: the platform, the captured setup and every file path.

Reads the machine (interpreter, PATH, user, config) once into a :class:`Setup`; changes
nothing.
"""

from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wzp_supervisor import paths
from wzp_supervisor.service import LAUNCHD_LABEL, SYSTEMD_UNIT, ServiceError

__all__ = [
    "DEFAULT_GRACEFUL_TIMEOUT",
    "PLATFORM_ENV",
    "Platform",
    "Setup",
    "backup_dir",
    "capture_path",
    "detect_platform",
    "env_file_path",
    "launchd_log_dir",
    "launchd_plist_path",
    "manifest_path",
    "systemd_unit_path",
]

Platform = Literal["linux", "macos"]

#: Used when the config cannot be read: ``processes.claude_code.timeout``'s default.
DEFAULT_GRACEFUL_TIMEOUT = 10.0

#: Environment variable that overrides the detected platform (for tests).
PLATFORM_ENV = "WZP_SERVICE_PLATFORM"


def detect_platform(override: str | None = None) -> Platform:
    """``linux`` or ``macos``: from ``override``, else ``$WZP_SERVICE_PLATFORM``, else the OS."""
    value = override or os.environ.get(PLATFORM_ENV) or sys.platform
    if value.startswith("linux"):
        return "linux"
    if value in ("darwin", "macos"):
        return "macos"
    raise ServiceError(f"no user service support for platform {value!r} (linux and macos only)")


@dataclass(frozen=True)
class Setup:
    """Everything an install depends on, captured once (see :meth:`detect`)."""

    platform: Platform
    python: str
    wzp: str | None
    path: str
    uid: int
    user: str
    home: Path
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    notes: tuple[str, ...] = ()

    @classmethod
    def detect(cls, platform: str | None = None, graceful_timeout: float | None = None) -> Setup:
        """Capture the running interpreter, the ``wzp`` next to it, PATH and the user.

        ``graceful_timeout`` defaults to the configured agents' stop timeout.
        """
        python = os.path.abspath(sys.executable)  # not resolved: a venv's python is a symlink
        if not sys.executable or not os.access(python, os.X_OK):
            raise ServiceError(f"cannot find the running Python interpreter ({python!r})")
        sibling = os.path.join(os.path.dirname(python), "wzp")
        wzp = sibling if os.access(sibling, os.X_OK) else None
        notes: list[str] = []
        if graceful_timeout is None:
            graceful_timeout, note = _configured_graceful_timeout()
            if note:
                notes.append(note)
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = os.environ.get("USER", str(uid))
        return cls(
            platform=detect_platform(platform),
            python=python,
            wzp=wzp,
            path=capture_path(os.environ.get("PATH", ""), os.path.dirname(python)),
            uid=uid,
            user=user,
            home=Path.home(),
            graceful_timeout=graceful_timeout,
            notes=tuple(notes),
        )

    def daemon_argv(self) -> list[str]:
        """The daemon in the foreground, as the service's main process."""
        return [self.python, "-m", "wzp_supervisor", "daemon"]

    def wzp_argv(self, *args: str) -> list[str]:
        """``wzp ARGS…`` by absolute path (the ``wzp`` script, else ``python -m``)."""
        base = [self.wzp] if self.wzp else [self.python, "-m", "wzp_supervisor"]
        return [*base, *args]

    def reload_argv(self) -> list[str]:
        """The service's reload: replace the daemon, keep the agents (``wzp daemon restart``)."""
        return self.wzp_argv("daemon", "restart")


def capture_path(path: str, first: str | None = None) -> str:
    """PATH for the service: the absolute entries of ``path`` in order, without duplicates,
    with ``first`` (the interpreter's directory) put in front when it is missing."""
    entries: list[str] = []
    for entry in path.split(os.pathsep):
        if entry and os.path.isabs(entry) and entry not in entries:
            entries.append(entry)
    if first and first not in entries:
        entries.insert(0, first)
    return os.pathsep.join(entries)


def _configured_graceful_timeout() -> tuple[float, str | None]:
    try:
        from wzp_supervisor.config import load_config

        return float(load_config().processes.timeout), None
    except Exception as exc:  # a missing module or a broken config must not block install
        return DEFAULT_GRACEFUL_TIMEOUT, (
            f"could not read the config ({exc}); assuming a {DEFAULT_GRACEFUL_TIMEOUT:g}s "
            "graceful stop timeout for the agents"
        )


def systemd_unit_path() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user/wezterm-parallel.service``."""
    return paths.config_dir().parent / "systemd" / "user" / SYSTEMD_UNIT


def env_file_path() -> Path:
    """The unit's ``EnvironmentFile``: ``<config dir>/service.env``."""
    return paths.config_dir() / "service.env"


def launchd_plist_path(home: Path) -> Path:
    """``~/Library/LaunchAgents/<label>.plist``."""
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def launchd_log_dir(home: Path) -> Path:
    """Where launchd writes the daemon's stdout and stderr."""
    return home / "Library" / "Logs" / "wezterm-parallel"


def manifest_path() -> Path:
    """Where install records what it did, for uninstall."""
    return paths.state_dir() / "service-manifest.json"


def backup_dir() -> Path:
    """Where ``--force`` keeps the files it replaced (uninstall puts them back)."""
    return paths.state_dir() / "service-backup"

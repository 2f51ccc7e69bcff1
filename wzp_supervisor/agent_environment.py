"""The environment of a supervised process: an allowlist of the daemon's own plus its config.

Secrets pass only by name (``env_passthrough``) or as ``${VAR}`` references, which are resolved
here, at spawn time, in memory only: the resolved values are never written to disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from wzp_supervisor import paths
from wzp_supervisor.templates import PaneSpec

# Names copied from the daemon's environment into every supervised process.
BASE_ALLOWLIST = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TZ",
    "COLORTERM",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "SSH_AUTH_SOCK",
    "DBUS_SESSION_BUS_ADDRESS",
)
BASE_PREFIXES = ("LC_", "XDG_", "WZP_")


_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def env_references(value: str) -> list[tuple[str, str | None]]:
    """The ``${VAR}`` / ``${VAR:-default}`` references in ``value``: (name, default or None)."""
    return [(m.group(1), m.group(2)) for m in _VAR_RE.finditer(value)]


def resolve_environment(
    env: Mapping[str, str], source: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in ``env`` from ``source``.

    Returns the expanded environment and the names that were missing (unset, no default);
    those expand to "" and the caller should warn about them. As in sh, ``:-`` also applies
    when the variable is set but empty.
    """
    missing: list[str] = []

    def expand(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = source.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None and name not in missing:
            missing.append(name)
        return ""

    return {key: _VAR_RE.sub(expand, value) for key, value in env.items()}, missing


def agent_environment(
    spec: PaneSpec, daemon_env: Mapping[str, str], passthrough: tuple[str, ...] = ()
) -> tuple[dict[str, str], list[str]]:
    """The scrubbed environment of a pane's process and the ``${VAR}`` names that were unset."""
    env = {
        key: value
        for key, value in daemon_env.items()
        if key in BASE_ALLOWLIST or key.startswith(BASE_PREFIXES) or key in passthrough
    }
    resolved, missing = resolve_environment(spec.environment, daemon_env)
    env.update(resolved)
    env.setdefault("TERM", "xterm-256color")
    env["WZP_AGENT"] = spec.target
    # hooks find the hub without computing paths (a faster `wzp hook`)
    env["WZP_HUB_SOCKET"] = os.fspath(paths.hub_socket())
    return env, list(missing)

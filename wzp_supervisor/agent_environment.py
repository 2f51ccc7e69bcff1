"""The environment of a supervised process: an allowlist of the daemon's own plus its config.

Secrets pass by name (``env_passthrough``), as ``${VAR}`` references, or — for an agent —
as the credentials its CLI reads (:data:`AGENT_CREDENTIALS`: a Claude agent gets
``ANTHROPIC_*``, ``CLAUDE_CODE_*`` and the Bedrock/Vertex switches from the daemon's
environment by default). All are resolved here, at spawn time, in memory only: the values
are never written to disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

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


class Credentials(NamedTuple):
    """The variables an agent CLI reads for its login, provider and network settings."""

    names: frozenset[str]
    prefixes: tuple[str, ...]


AGENT_CREDENTIALS: Mapping[str, Credentials] = {
    # Claude Code's documented variables: the Anthropic API (key, token, base URL, models,
    # headers), its own CLAUDE_CODE_* switches (Bedrock, Vertex, Foundry, OAuth token, …),
    # the AWS and Google Cloud credentials its Bedrock and Vertex providers read, the
    # update/telemetry switches, and the proxy settings.
    "claude": Credentials(
        names=frozenset(
            {
                "CLAUDE_CONFIG_DIR",
                "CLOUD_ML_REGION",
                "GCLOUD_PROJECT",
                "DISABLE_AUTOUPDATER",
                "DISABLE_TELEMETRY",
                "DISABLE_ERROR_REPORTING",
                "DISABLE_BUG_COMMAND",
                "DISABLE_COST_WARNINGS",
                "DISABLE_NON_ESSENTIAL_MODEL_CALLS",
                "DISABLE_INSTALLATION_CHECKS",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "NO_PROXY",
                "NODE_EXTRA_CA_CERTS",
            }
        ),
        prefixes=("ANTHROPIC_", "CLAUDE_CODE_", "AWS_", "GOOGLE_", "VERTEX_REGION_"),
    ),
}
"""Per agent kind: what it gets from the daemon's environment unless the config says
otherwise (a name set in ``environment`` wins; set to ``""`` the agent does not get it)."""


def credential_names(agent: str, daemon_env: Mapping[str, str]) -> list[str]:
    """The names in ``daemon_env`` that an ``agent`` pane gets as credentials, sorted."""
    creds = AGENT_CREDENTIALS.get(agent)
    if creds is None:
        return []
    return sorted(
        name for name in daemon_env if name in creds.names or name.startswith(creds.prefixes)
    )


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
    spec: PaneSpec,
    daemon_env: Mapping[str, str],
    passthrough: tuple[str, ...] = (),
    *,
    credentials: bool = True,
) -> tuple[dict[str, str], list[str]]:
    """The scrubbed environment of a pane's process and the ``${VAR}`` names that were unset.

    With ``credentials`` an agent pane also gets its CLI's credentials
    (:func:`credential_names`); the pane's ``environment`` overrides them, and a credential
    it sets to ``""`` is left out.
    """
    granted = set(credential_names(spec.agent, daemon_env)) if credentials else set()
    env = {
        key: value
        for key, value in daemon_env.items()
        if key in BASE_ALLOWLIST
        or key.startswith(BASE_PREFIXES)
        or key in passthrough
        or key in granted
    }
    resolved, missing = resolve_environment(spec.environment, daemon_env)
    env.update(resolved)
    for name in granted:
        if env.get(name) == "" and name in spec.environment:
            del env[name]
    env.setdefault("TERM", "xterm-256color")
    env["WZP_AGENT"] = spec.target
    # hooks find the hub without computing paths (a faster `wzp hook`)
    env["WZP_HUB_SOCKET"] = os.fspath(paths.hub_socket())
    return env, list(missing)

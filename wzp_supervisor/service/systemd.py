"""Render the systemd user unit and its environment file (pure functions).

The unit comes from ``units/wezterm-parallel.service.in``; placeholders are ``@NAME@``.
Command lines are quoted for systemd (``%`` specifiers and ``$`` variables are escaped, so
paths are taken literally), and the environment file is quoted so systemd reads each value
back verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from wzp_supervisor import __version__
from wzp_supervisor.service import MANAGED_MARKER, load_template, stop_timeout_for

__all__ = ["TEMPLATE", "is_managed", "quote_exec", "render", "render_env_file"]

TEMPLATE = "wezterm-parallel.service.in"

_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _no_newlines(value: str, what: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"{what} contains a newline or NUL: {value!r}")
    return value


def _escape_specifiers(value: str) -> str:
    return value.replace("%", "%%")


def quote_exec(argv: Sequence[str]) -> str:
    """Quote an argument vector for ``ExecStart=``/``ExecReload=``.

    Every argument is taken literally: ``%`` becomes ``%%`` and ``$`` becomes ``$$``;
    arguments with whitespace, quotes, backslashes or nothing in them are double-quoted.
    The first argument must be an absolute path (systemd runs it without a shell).
    """
    if not argv:
        raise ValueError("empty command line")
    if not argv[0].startswith("/"):
        raise ValueError(f"the program must be an absolute path, not {argv[0]!r}")
    words = []
    for arg in argv:
        _no_newlines(arg, "command-line argument")
        text = _escape_specifiers(arg).replace("$", "$$")
        if not _PLAIN.fullmatch(text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        words.append(text)
    return " ".join(words)


def render(
    *,
    exec_start: Sequence[str],
    exec_reload: Sequence[str],
    environment_file: Path | str,
    graceful_timeout: float,
    watchdog_sec: int = 30,
    version: str = __version__,
) -> str:
    """The text of ``wezterm-parallel.service``.

    ``exec_start`` runs the daemon in the foreground (it is the main PID and sends the
    notifications); ``exec_reload`` must wait until the reload is done. ``graceful_timeout`` is
    the agents' graceful stop timeout in seconds; ``TimeoutStopSec`` is set well above it.
    """
    env_file = str(environment_file)
    if not env_file.startswith("/"):
        raise ValueError(f"the environment file must be an absolute path, not {env_file!r}")
    if watchdog_sec <= 0:
        raise ValueError(f"watchdog_sec must be positive, not {watchdog_sec}")
    values = {
        "VERSION": _no_newlines(version, "version"),
        "EXEC_START": quote_exec(exec_start),
        "EXEC_RELOAD": quote_exec(exec_reload),
        "ENVIRONMENT_FILE": _escape_specifiers(_no_newlines(env_file, "environment file")),
        "WATCHDOG_SEC": str(int(watchdog_sec)),
        "TIMEOUT_STOP_SEC": str(stop_timeout_for(graceful_timeout)),
    }
    return _fill(load_template(TEMPLATE), values)


def _fill(template: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder @{name}@ has no value")
        return values[name]

    return _PLACEHOLDER.sub(replace, template)


def _quote_env_value(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    escaped = "".join("\\" + ch if ch in '\\"`$' else ch for ch in value)
    return f'"{escaped}"'


def render_env_file(env: Mapping[str, str], *, version: str = __version__) -> str:
    """The text of the ``EnvironmentFile=`` (``service.env``): one quoted assignment a line.

    Meant for the PATH captured at install time and similar non-secret settings only.
    """
    lines = [
        MANAGED_MARKER,
        f"# Environment of the wezterm-parallel user service (written by wzp {version}).",
        "# `wzp service install` rewrites this file; it must never hold secrets.",
    ]
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"not an environment variable name: {name!r}")
        lines.append(f"{name}={_quote_env_value(_no_newlines(value, name))}")
    return "\n".join(lines) + "\n"


def is_managed(text: str) -> bool:
    """True when ``text`` (a unit or env file) was written by ``wzp service install``."""
    return any(line.strip() == MANAGED_MARKER for line in text.splitlines()[:5])

"""Render the launchd LaunchAgent plist (pure) and check it against launchd's rules.

The template ``units/wezterm-parallel.plist.in`` is itself a property list. Every string
of the exact form ``@NAME@`` in it is replaced by a value of any plist type; the result is
serialized with :mod:`plistlib`, so no XML escaping is ever done by hand.
"""

from __future__ import annotations

import plistlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wzp_supervisor.service import LAUNCHD_LABEL, load_template, stop_timeout_for

__all__ = ["MANAGED_KEY", "TEMPLATE", "check_plist_rules", "is_managed", "render"]

TEMPLATE = "wezterm-parallel.plist.in"

#: Key marking a plist written by ``wzp service install`` (launchd ignores unknown keys).
MANAGED_KEY = "WzpManaged"
MANAGED_VALUE = "wezterm-parallel"

_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_PROCESS_TYPES = ("Background", "Standard", "Adaptive", "Interactive")
_KEEPALIVE_BOOL_KEYS = ("SuccessfulExit", "Crashed", "NetworkState", "AfterInitialDemand")
_KEEPALIVE_DICT_KEYS = ("PathState", "OtherJobEnabled")

# Top-level keys this tool may write, with the plist type launchd wants for each.
_TYPES: dict[str, type | tuple[type, ...]] = {
    "Label": str,
    MANAGED_KEY: str,
    "Program": str,
    "ProgramArguments": list,
    "EnvironmentVariables": dict,
    "RunAtLoad": bool,
    "KeepAlive": (bool, dict),
    "ThrottleInterval": int,
    "ExitTimeOut": int,
    "ProcessType": str,
    "StandardOutPath": str,
    "StandardErrorPath": str,
    "StandardInPath": str,
    "WorkingDirectory": str,
    "Disabled": bool,
    "AbandonProcessGroup": bool,
}
_PATH_KEYS = ("Program", "StandardOutPath", "StandardErrorPath", "StandardInPath")


def render(
    *,
    program_arguments: Sequence[str],
    environment: Mapping[str, str],
    log_dir: Path | str,
    graceful_timeout: float,
    label: str = LAUNCHD_LABEL,
) -> bytes:
    """The bytes of ``~/Library/LaunchAgents/<label>.plist`` (XML property list).

    ``program_arguments`` runs the daemon in the foreground, first element absolute (launchd
    does no PATH lookup). ``environment`` is the job's whole environment beyond launchd's
    defaults: PATH at least, never secrets. Output goes to ``daemon.out.log`` and
    ``daemon.err.log`` in ``log_dir``. ``ExitTimeOut`` is set well above ``graceful_timeout``.
    """
    logs = Path(log_dir)
    values: dict[str, Any] = {
        "LABEL": label,
        "PROGRAM_ARGUMENTS": list(program_arguments),
        "ENVIRONMENT_VARIABLES": dict(environment),
        "EXIT_TIMEOUT": stop_timeout_for(graceful_timeout),
        "STDOUT_PATH": str(logs / "daemon.out.log"),
        "STDERR_PATH": str(logs / "daemon.err.log"),
    }
    template = plistlib.loads(load_template(TEMPLATE).encode("utf-8"))
    job = _fill(template, values)
    problems = check_plist_rules(job)
    if problems:
        raise ValueError("invalid launchd job: " + "; ".join(problems))
    return plistlib.dumps(job, fmt=plistlib.FMT_XML, sort_keys=False)


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        match = _PLACEHOLDER.fullmatch(node)
        if match is None:
            return node
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder @{name}@ has no value")
        return values[name]
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    return node


def is_managed(job: Mapping[str, Any]) -> bool:
    """True when a loaded plist carries the mark of ``wzp service install``."""
    return job.get(MANAGED_KEY) == MANAGED_VALUE


def _has_type(value: Any, expected: type | tuple[type, ...]) -> bool:
    # bool is an int in Python, but <true/> is not an <integer> to launchd.
    if isinstance(value, bool):
        return expected is bool or (isinstance(expected, tuple) and bool in expected)
    return isinstance(value, expected)


def check_plist_rules(job: Mapping[str, Any]) -> list[str]:
    """The ways ``job`` breaks launchd's rules (or ours); an empty list when it is fine.

    Checked: a reverse-DNS ``Label``; ``ProgramArguments`` a non-empty list of strings whose
    program is absolute (launchd neither searches PATH nor expands ``~``); every key known and
    of the plist type launchd expects (``<integer>`` is not ``<true/>``); ``KeepAlive`` a bool
    or a dict of known conditions; ``ProcessType`` one of launchd's; absolute log paths;
    ``EnvironmentVariables`` strings only, with PATH and without anything that looks like a
    secret; no placeholder left unfilled.
    """
    problems: list[str] = []
    for key, value in job.items():
        expected = _TYPES.get(key)
        if expected is None:
            problems.append(f"unknown key {key!r}")
        elif not _has_type(value, expected):
            problems.append(f"{key} has type {type(value).__name__}")
    label = job.get("Label")
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or "." not in label:
        problems.append(f"Label must be a reverse-DNS name, not {label!r}")
    args = job.get("ProgramArguments")
    if not isinstance(args, list) or not args:
        problems.append("ProgramArguments must be a non-empty array")
    else:
        if not all(isinstance(arg, str) for arg in args):
            problems.append("ProgramArguments must hold strings only")
        elif not args[0].startswith("/"):
            problems.append(f"ProgramArguments[0] must be an absolute path, not {args[0]!r}")
    for key in _PATH_KEYS:
        path = job.get(key)
        if isinstance(path, str) and not path.startswith("/"):
            problems.append(f"{key} must be an absolute path (launchd does not expand ~)")
    keep_alive = job.get("KeepAlive")
    if isinstance(keep_alive, dict):
        for cond, value in keep_alive.items():
            if cond in _KEEPALIVE_BOOL_KEYS:
                if not isinstance(value, bool):
                    problems.append(f"KeepAlive.{cond} must be a boolean")
            elif cond in _KEEPALIVE_DICT_KEYS:
                if not isinstance(value, dict):
                    problems.append(f"KeepAlive.{cond} must be a dictionary")
            else:
                problems.append(f"KeepAlive has unknown condition {cond!r}")
    process_type = job.get("ProcessType")
    if process_type is not None and process_type not in _PROCESS_TYPES:
        problems.append(f"ProcessType must be one of {', '.join(_PROCESS_TYPES)}")
    for key in ("ThrottleInterval", "ExitTimeOut"):
        number = job.get(key)
        if isinstance(number, int) and not isinstance(number, bool) and number < 0:
            problems.append(f"{key} must not be negative")
    env = job.get("EnvironmentVariables")
    if isinstance(env, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            problems.append("EnvironmentVariables must map strings to strings")
        if "PATH" not in env:
            problems.append("EnvironmentVariables must set PATH (launchd's default is bare)")
        problems.extend(
            f"EnvironmentVariables.{name} looks like a secret; keep secrets out of the plist"
            for name in env
            if isinstance(name, str) and _SECRET_NAME.search(name)
        )
    problems.extend(
        f"unfilled placeholder {text}" for text in _strings(job) if _PLACEHOLDER.fullmatch(text)
    )
    return problems


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []

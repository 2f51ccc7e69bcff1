"""Pane specs become Circus watcher options: pure functions, no circus import.

Every supervised pane runs inside a session holder (a PTY owner, see ``session/holder.py``),
so interactive agents get a terminal, a screen model and an output log, and a WezTerm pane is
only a viewer. The process environment comes from ``agent_environment.py``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wzp_supervisor import paths
from wzp_supervisor.agent_environment import agent_environment
from wzp_supervisor.restart_policy import RestartSettings
from wzp_supervisor.templates import PaneSpec


@dataclass(frozen=True)
class WatcherPlan:
    """What the backend needs to register one watcher."""

    name: str
    cmd: str
    options: dict[str, Any]
    missing_env: tuple[str, ...]


def watcher_name(workspace: str, pane: str) -> str:
    """Circus watcher name of ``workspace/pane`` (circus names cannot hold a slash)."""
    return f"{workspace}.{pane}"


def target_of(name: str) -> str:
    """``workspace/pane`` of a watcher name."""
    workspace, _, pane = name.partition(".")
    return f"{workspace}/{pane}"


def restart_settings(spec: PaneSpec) -> RestartSettings:
    """The restart policy and crash-loop limits of a pane."""
    return RestartSettings(
        policy=spec.restart_policy,
        min_uptime=spec.min_uptime,
        max_retries=spec.max_retries,
        backoff_max=spec.backoff_max,
    )


def holder_argv(spec: PaneSpec, python: str = sys.executable) -> list[str]:
    """The command line of the session holder that runs ``spec`` in a PTY."""
    argv = [
        python,
        "-m",
        "wzp_supervisor.session.holder",
        "--target",
        spec.target,
        "--socket",
        os.fspath(paths.session_socket(spec.workspace, spec.pane)),
        "--log",
        os.fspath(paths.pane_log(spec.workspace, spec.pane)),
        "--cwd",
        os.fspath(spec.cwd),
    ]
    if spec.agent == "claude":
        argv += [
            "--agent",
            "claude",
            "--session-file",
            os.fspath(paths.session_id_file(spec.workspace, spec.pane)),
        ]
    for name, value in sorted(spec.rlimits.items()):
        argv += ["--rlimit", f"{name}={value}"]
    command = ["/bin/sh", "-c", " ".join(spec.argv)] if spec.shell else list(spec.argv)
    return [*argv, "--", *command]


def plan_watcher(
    spec: PaneSpec, daemon_env: Mapping[str, str], passthrough: tuple[str, ...] = ()
) -> WatcherPlan:
    """Circus watcher options for one supervised pane."""
    env, missing = agent_environment(spec, daemon_env, passthrough)
    argv = holder_argv(spec)
    holder_log = paths.pane_log(spec.workspace, spec.pane).with_suffix(".holder.log")
    stream = {
        "class": "FileStream",
        "filename": os.fspath(holder_log),
        "max_bytes": 1_048_576,
        "backup_count": 1,
    }
    options: dict[str, Any] = {
        "args": argv[1:],
        "working_dir": os.fspath(spec.cwd),
        "env": env,
        "copy_env": False,
        "copy_path": False,
        "numprocesses": 1,
        "respawn": False,  # restarts follow our policy (restart_policy.py), not circus's
        "autostart": False,
        "graceful_timeout": spec.graceful_timeout,
        "stop_signal": signal.SIGTERM,
        "stop_children": True,
        "max_retry": 1,
        "stdout_stream": dict(stream),
        "stderr_stream": dict(stream),
        "close_child_stdin": True,
    }
    return WatcherPlan(watcher_name(spec.workspace, spec.pane), argv[0], options, tuple(missing))

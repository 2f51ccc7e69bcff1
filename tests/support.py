"""Helpers shared by the test modules: configs with real commands, waiting for processes,
and the interpreter the tests run panes with."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from tests.conftest import WzpEnv

PY = sys.executable
SLEEP = "import time; time.sleep(10000)"
AGENT = "demo/agent-1"
"""The agent pane of the single-agent Claude configs."""


def config_with(panes: str, extra: str = "", layout: str = "four_pane_grid") -> str:
    """A config whose default template ``t`` has ``panes`` (see ``pane``)."""
    return f"""
framework:
  max_workspaces: 3
processes:
  claude_code:
    max_instances: 4
{extra}
workspaces:
  default_template: t
  templates:
    t:
      layout: {layout}
      panes:
{panes}
"""


def pane_entry(name: str, position: str, command: str, opts: Mapping[str, object]) -> str:
    """One pane of a template's ``panes`` list; ``command`` and option values are YAML text."""
    lines = [
        f"        - name: {name}",
        f"          position: {position}",
        f"          command: {command}",
    ]
    lines += [f"          {key}: {value}" for key, value in opts.items()]
    return "\n".join(lines) + "\n"


def pane(name: str, position: str, code: str, **opts: object) -> str:
    """One pane of ``config_with`` running ``python -c code``, with extra pane keys."""
    return pane_entry(name, position, f"[{json.dumps(PY)}, '-c', {json.dumps(code)}]", opts)


def start(env: WzpEnv, config: str, workspace: str = "demo") -> None:
    """Write ``config``, start the daemon and create ``workspace`` in the work dir."""
    env.write_config(config)
    env.wzp("up", check=True)
    env.wzp("workspace", "create", workspace, "--dir", str(env.work), check=True)


def running_pid(env: WzpEnv, target: str) -> int:
    """Wait until ``target`` runs; its pid."""

    def check() -> int | None:
        proc = env.process(target)
        return proc["pid"] if proc["state"] == "running" else None

    pid: int = env.wait_for(check, what=f"{target} running")
    return pid


def kill_daemon(env: WzpEnv) -> None:
    """SIGKILL the daemon and wait until it is gone (its agents live on)."""
    pid = env.daemon_pid()
    assert pid is not None, "no daemon pid file"
    os.kill(pid, signal.SIGKILL)
    env.wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        what="the daemon gone",
    )


def hub_line(path: Path, line: bytes) -> dict[str, Any]:
    """Send one raw NDJSON line to a hub socket at ``path`` and read the one reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(line.rstrip(b"\n") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


class Finished(NamedTuple):
    """How a `wzp` command ended: exit status, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


def ctrl_c(
    env: WzpEnv,
    argv: list[str],
    when: Callable[[subprocess.Popen[str]], object],
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Finished:
    """Run `wzp ARGV`, press ctrl+c (SIGINT) once ``when(process)`` returns (it may read the
    process's stdout), and wait for it to end; killed at the end of ``timeout`` if it has not."""
    proc = subprocess.Popen(
        [PY, "-m", "wzp_supervisor", *argv],
        env={**env.env, **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        when(proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Finished(proc.returncode, stdout, stderr)

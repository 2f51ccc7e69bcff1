"""A new user's first hour, daemon side: stopping shells, reloading environments, removed
templates, leftovers after `wzp down`; real daemon, real processes."""

from __future__ import annotations

import psutil

from tests.conftest import WzpEnv
from tests.support import config_with, running_pid, start

SLOW_STOP = "    timeout: 300"  # seconds between the first signal and SIGKILL


def shell_pane(name: str, position: str) -> str:
    """A pane running an interactive bash, which ignores SIGTERM."""
    return (
        f"        - name: {name}\n"
        f"          position: {position}\n"
        "          command: [bash, --norc, --noprofile, -i]\n"
    )


def agent_of(env: WzpEnv, target: str) -> psutil.Process:
    """The program the holder of ``target`` runs (its first child)."""
    holder = psutil.Process(running_pid(env, target))
    found: list[psutil.Process] = env.wait_for(holder.children, what=f"{target}'s program")
    return found[0]


def test_an_interactive_shell_pane_stops_on_hang_up_without_waiting_the_timeout(
    wzp_env: WzpEnv,
) -> None:
    panes = shell_pane("sh", "top_left") + shell_pane("sh2", "top_right")
    start(wzp_env, config_with(panes, extra=SLOW_STOP))
    shell = agent_of(wzp_env, "demo/sh")
    assert shell.name() == "bash"
    # Each command below is bounded well under the 300 s stop timeout: waiting it out fails.
    wzp_env.wzp("stop", "demo/sh", check=True, timeout=60)
    assert wzp_env.process("demo/sh")["state"] == "stopped"
    assert not shell.is_running() or shell.status() == psutil.STATUS_ZOMBIE
    other = agent_of(wzp_env, "demo/sh2")
    changed = shell_pane("sh", "top_left") + shell_pane("sh2", "top_right").replace(
        "-i]", "--posix, -i]"
    )
    wzp_env.write_config(config_with(changed, extra=SLOW_STOP))
    wzp_env.wzp("reload", "--wait", check=True, timeout=60)
    assert not other.is_running() or other.status() == psutil.STATUS_ZOMBIE
    other = agent_of(wzp_env, "demo/sh2")
    assert "--posix" in other.cmdline()
    wzp_env.wzp("down", check=True, timeout=90)
    other_gone = not other.is_running() or other.status() == psutil.STATUS_ZOMBIE
    assert other_gone

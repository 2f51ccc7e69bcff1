"""A new user's first hour, daemon side: stopping shells, reloading environments, removed
templates, leftovers after `wzp down`; real daemon, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil

from tests.conftest import WzpEnv, make_env
from tests.support import SLEEP, config_with, pane, running_pid, start
from wzp_supervisor.process_tree import stop_signals

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


def env_pane(name: str, position: str, **opts: object) -> str:
    """A pane that appends the FIRST_HOUR_TOKEN it got to ``<name>.env``, then sleeps."""
    code = (
        "import os, time; "
        f"open('{name}.env', 'a').write(repr(os.environ.get('FIRST_HOUR_TOKEN')) + '\\n'); "
        "time.sleep(10000)"
    )
    return pane(name, position, code, **opts)


def seen_env(env: WzpEnv, name: str, count: int) -> list[str]:
    """The tokens pane ``name`` saw, once it has started ``count`` times."""
    path = env.work / f"{name}.env"

    def lines() -> list[str] | None:
        got = path.read_text().splitlines() if path.exists() else []
        return got if len(got) >= count else None

    found: list[str] = env.wait_for(lines, what=f"{name} started {count} time(s)")
    return found


def test_reload_and_restart_apply_env_passthrough_and_environment_changes() -> None:
    wzp_env = make_env({"FIRST_HOUR_TOKEN": "from-the-daemon"})
    try:
        panes = env_pane("a1", "top_left") + env_pane(
            "a2", "top_right", environment="{FIRST_HOUR_TOKEN: own}"
        )
        start(wzp_env, config_with(panes))
        a1, a2 = running_pid(wzp_env, "demo/a1"), running_pid(wzp_env, "demo/a2")
        assert seen_env(wzp_env, "a1", 1) == ["None"]
        assert seen_env(wzp_env, "a2", 1) == ["'own'"]

        passthrough = "    env_passthrough: [FIRST_HOUR_TOKEN]"
        wzp_env.write_config(config_with(panes, extra=passthrough))
        out = wzp_env.wzp("reload", "--wait", check=True).stdout
        assert "changed: demo/a1;" in out, out  # a2 sets the variable itself: unaffected
        assert running_pid(wzp_env, "demo/a2") == a2
        assert running_pid(wzp_env, "demo/a1") != a1
        assert seen_env(wzp_env, "a1", 2) == ["None", "'from-the-daemon'"]

        wzp_env.wzp("restart", "demo", check=True)
        assert seen_env(wzp_env, "a1", 3)[-1] == "'from-the-daemon'"
        assert seen_env(wzp_env, "a2", 2)[-1] == "'own'"

        changed = env_pane("a1", "top_left") + env_pane(
            "a2", "top_right", environment="{FIRST_HOUR_TOKEN: own-2}"
        )
        wzp_env.write_config(config_with(changed, extra=passthrough))
        a1 = running_pid(wzp_env, "demo/a1")
        out = wzp_env.wzp("reload", "--wait", check=True).stdout
        assert "changed: demo/a2;" in out, out
        assert running_pid(wzp_env, "demo/a1") == a1
        assert seen_env(wzp_env, "a2", 3)[-1] == "'own-2'"
    finally:
        wzp_env.cleanup()


def two_templates(keep_other: bool) -> str:
    """Templates ``t`` (the default) and, if ``keep_other``, ``other``."""
    base = config_with(pane("a1", "top_left", SLEEP))
    if not keep_other:
        return base
    return base + ("    other:\n      layout: single\n      panes:\n" + pane("o1", "main", SLEEP))


def test_a_workspace_whose_template_is_removed_keeps_running_across_down_and_up(
    wzp_env: WzpEnv,
) -> None:
    start(wzp_env, two_templates(keep_other=True))
    wzp_env.wzp(
        "workspace",
        "create",
        "keep",
        "--template",
        "other",
        "--dir",
        str(wzp_env.work),
        check=True,
    )
    o1 = running_pid(wzp_env, "keep/o1")
    wzp_env.write_config(two_templates(keep_other=False))
    reload = wzp_env.wzp("reload", "--wait")
    assert reload.returncode == 1, reload
    assert "keep" in reload.stderr and "'other'" in reload.stderr, reload.stderr
    assert "demo" not in reload.stderr
    assert running_pid(wzp_env, "keep/o1") == o1  # untouched

    wzp_env.wzp("down", check=True)
    up = wzp_env.wzp("up", check=True)
    assert "'other' is no longer in the config" in up.stderr and "keep" in up.stderr, up
    assert running_pid(wzp_env, "keep/o1") != o1  # runs again, from the saved definition
    running_pid(wzp_env, "demo/a1")
    listing = json.loads(wzp_env.wzp("workspace", "list", "--json", check=True).stdout)
    names = (
        {w["name"]: w for w in listing["workspaces"]}
        if isinstance(listing, dict)
        else {w["name"]: w for w in listing}
    )
    assert names["keep"]["processes"] == ["keep/o1"]
    # the next reload still names it, and putting the template back clears that
    assert wzp_env.wzp("reload", "--wait").returncode == 1
    wzp_env.write_config(two_templates(keep_other=True))
    wzp_env.wzp("reload", "--wait", check=True)


def test_workspace_totals_are_in_shown_states_and_listings_keep_agent_keys(
    wzp_env: WzpEnv,
) -> None:
    panes = pane("ag", "top_left", SLEEP, agent="claude") + pane("sh", "top_right", SLEEP)
    start(wzp_env, config_with(panes))
    running_pid(wzp_env, "demo/ag")
    running_pid(wzp_env, "demo/sh")
    procs = {p["target"]: p for p in wzp_env.status()["processes"]}
    assert procs["demo/ag"]["agent_state"] == "starting"  # no hook has spoken yet
    keys = ("agent_state", "agent_since", "agent_reason", "agent_message", "session_id")
    assert {key: procs["demo/sh"].get(key, "missing") for key in keys} == dict.fromkeys(keys)
    listing = json.loads(wzp_env.wzp("workspace", "list", "--json", check=True).stdout)
    workspaces = listing["workspaces"] if isinstance(listing, dict) else listing
    assert workspaces[0]["totals"] == {"starting": 1, "running": 1}


LEAVES_CHILDREN = (
    "import subprocess, time\n"
    "subprocess.Popen(['setsid', '-f', 'sh', '-c', 'echo $$ > detached.pid; exec sleep 1000'])\n"
    "subprocess.Popen(['sh', '-c', 'echo $$ > plain.pid; exec sleep 1000'])\n"
    "time.sleep(10000)\n"
)


def children_left(env: WzpEnv) -> list[psutil.Process]:
    """The detached and the plain child of LEAVES_CHILDREN, once both have started."""

    def both() -> list[psutil.Process] | None:
        files = [env.work / "detached.pid", env.work / "plain.pid"]
        texts = [f.read_text().strip() if f.exists() else "" for f in files]
        if not all(texts):
            return None
        procs = [psutil.Process(int(t)) for t in texts]
        return procs if all(p.name() == "sleep" for p in procs) else None

    found: list[psutil.Process] = env.wait_for(both, what="the agent's children")
    return found


def gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_nothing_an_agent_started_survives_wzp_down(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", LEAVES_CHILDREN)))
    left = children_left(wzp_env)
    try:
        wzp_env.wzp("down", check=True)
        survivors = [p for p in left if not gone(p)]
        assert survivors == []
    finally:
        for proc in left:
            if not gone(proc):
                proc.kill()


def test_nothing_survives_a_killed_holder_whose_pane_is_removed(wzp_env: WzpEnv) -> None:
    keep = pane("a2", "top_right", SLEEP)
    doomed = pane("a1", "top_left", LEAVES_CHILDREN, restart_policy="never")
    start(wzp_env, config_with(doomed + keep))
    holder = running_pid(wzp_env, "demo/a1")
    left = children_left(wzp_env)
    try:
        os.kill(holder, signal.SIGKILL)
        wzp_env.wait_for(
            lambda: wzp_env.process("demo/a1")["state"] in ("exited", "stopped"),
            what="demo/a1 down",
        )
        wzp_env.write_config(config_with(keep))
        wzp_env.wzp("reload", "--wait", check=True)
        wzp_env.wait_for(lambda: all(gone(p) for p in left), what="the agent's leftovers ended")
    finally:
        for proc in left:
            if not gone(proc):
                proc.kill()


def test_wzp_down_leaves_nothing_in_the_runtime_dir(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP) + pane("a2", "top_right", SLEEP)))
    running_pid(wzp_env, "demo/a1")
    running_pid(wzp_env, "demo/a2")
    assert (wzp_env.runtime_dir / "s").is_dir()
    wzp_env.wzp("down", check=True)
    left = sorted(str(p.relative_to(wzp_env.runtime_dir)) for p in wzp_env.runtime_dir.rglob("*"))
    assert left == []


def test_stop_signals_hang_up_first_unless_the_program_handles_sigterm() -> None:
    handles_term = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(100)\n"
    )
    ignores_term = handles_term.replace("lambda *_: sys.exit(0)", "signal.SIG_IGN")
    plain = "print('ready', flush=True); import time; time.sleep(100)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        for code in (handles_term, ignores_term, plain)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        assert [stop_signals(p.pid) for p in procs] == [
            (signal.SIGTERM, None),
            (signal.SIGHUP, signal.SIGTERM),
            (signal.SIGHUP, signal.SIGTERM),
        ]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

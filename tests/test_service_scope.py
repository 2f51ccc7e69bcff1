"""Agents outlive the daemon under systemd: holders in their own scope, outside the unit.

The pure part (when a scope prefix is given) runs anywhere. The real part starts a systemd
user manager (see tests/systemd_support.py; skipped with the reason where it cannot run),
installs the unit exactly as rendered for `wzp service install`, with a stand-in daemon that
starts a holder-like process the way the daemon does, through :func:`scope_prefix`, and
checks that `systemctl --user kill -s KILL` of the service leaves that process running, and
that the same process started without the prefix is killed with the service.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO
from tests.systemd_support import UserManager, user_manager
from wzp_supervisor.holder_scope import AGENT_SLICE, scope_prefix, under_systemd_user_manager
from wzp_supervisor.service import SYSTEMD_UNIT, systemd

PYTHON = os.path.abspath(sys.executable)
WZP = os.path.join(os.path.dirname(PYTHON), "wzp")


def _service_env(tmp_path: Path) -> dict[str, str]:
    runtime = tmp_path / "run"
    (runtime / "systemd").mkdir(parents=True)
    (runtime / "systemd" / "private").touch()
    return {"INVOCATION_ID": "0" * 32, "MANAGERPID": "1234", "XDG_RUNTIME_DIR": str(runtime)}


def test_scope_prefix_only_under_a_user_manager(tmp_path: Path) -> None:
    env = _service_env(tmp_path)
    found = {"systemd-run": "/usr/bin/systemd-run"}
    prefix = scope_prefix("ws/agent-1", environ=env, which=found.get)
    assert prefix == [
        "/usr/bin/systemd-run",
        "--user",
        "--scope",
        "--quiet",
        "--collect",
        f"--slice={AGENT_SLICE}",
        "--description=wezterm-parallel agent ws/agent-1",
        "--",
    ]
    assert under_systemd_user_manager(env)
    # Not a unit of a user manager, or no manager to reach, or no systemd-run: nothing.
    for name in ("INVOCATION_ID", "MANAGERPID", "XDG_RUNTIME_DIR"):
        assert scope_prefix("ws/a", environ={**env, name: ""}, which=found.get) == []
    (Path(env["XDG_RUNTIME_DIR"]) / "systemd" / "private").unlink()
    assert scope_prefix("ws/a", environ=env, which=found.get) == []
    assert scope_prefix("ws/a", environ=_service_env(tmp_path / "x"), which=lambda _: None) == []
    # A name with control characters does not reach the description raw.
    odd = scope_prefix("ws/\x1b]0;x\x07", environ=_service_env(tmp_path / "y"), which=found.get)
    assert odd[6] == "--description=wezterm-parallel agent ws/?]0;x?"


# Stands in for the daemon: the service's main process, started by the user manager. Starts
# one holder-like process (once), with or without the scope prefix, then reports ready.
FAKE_DAEMON = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    from pathlib import Path
    from wzp_supervisor.systemd_notify import SdNotifier
    from wzp_supervisor.holder_scope import scope_prefix

    out, mode = Path(sys.argv[1]), sys.argv[2]
    notifier = SdNotifier.from_env(unset=True)
    record = out / "holder.json"
    if not record.exists():
        prefix = scope_prefix("demo/agent-1") if mode == "scope" else []
        holder = subprocess.Popen(
            [*prefix, sys.executable, "-c", "import time; time.sleep(3600)"],
            start_new_session=True,
        )
        record.write_text(json.dumps({"pid": holder.pid, "prefix": prefix}))
    notifier.ready(status="stand-in daemon ready")
    while True:
        notifier.watchdog()
        time.sleep(1)
    """
)


def _install(manager: UserManager, out: Path, mode: str) -> None:
    script = out / "fake_daemon.py"
    script.write_text(FAKE_DAEMON)
    env_file = Path(manager.env["XDG_CONFIG_HOME"]) / "wezterm-parallel" / "service.env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(
        systemd.render_env_file({"PATH": manager.env["PATH"], "PYTHONPATH": str(REPO)})
    )
    unit = systemd.render(
        exec_start=[PYTHON, str(script), str(out), mode],
        exec_reload=[WZP, "daemon", "restart"],
        environment_file=env_file,
        graceful_timeout=5,
    )
    (manager.unit_dir / SYSTEMD_UNIT).write_text(unit)
    manager.systemctl("daemon-reload")


def _main_pid(manager: UserManager) -> int:
    shown = manager.systemctl("show", "--property=MainPID", "--value", SYSTEMD_UNIT)
    return int(shown.stdout.strip() or 0)


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("mode", ["scope", "plain"])
def test_holders_survive_a_killed_service_only_in_their_own_scope(
    tmp_path: Path, mode: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with user_manager(tmp_path / "um") as manager:
        _install(manager, out, mode)
        manager.systemctl("start", SYSTEMD_UNIT)  # Type=notify: returns once READY=1 came
        daemon_pid = _main_pid(manager)
        assert daemon_pid > 0
        record = json.loads((out / "holder.json").read_text())
        holder = record["pid"]
        assert (record["prefix"] != []) == (mode == "scope")
        # systemd-run --scope execs the command in place: the pid the daemon got is the holder.
        # (systemd-run's own command line holds the same words: wait for the program itself)
        _wait(
            lambda: psutil.Process(holder).cmdline()[:2] == [PYTHON, "-c"],
            "the holder's own program (systemd-run has moved it into its scope and exec'd)",
        )
        cgroup = Path(f"/proc/{holder}/cgroup").read_text()
        assert (AGENT_SLICE in cgroup) == (mode == "scope")
        assert (SYSTEMD_UNIT in cgroup) == (mode == "plain")

        manager.systemctl("kill", "-s", "KILL", SYSTEMD_UNIT)
        _wait(lambda: not _alive(daemon_pid), "the daemon to die")
        if mode == "scope":
            # Restart=on-failure brings a new daemon; the holder was never touched.
            _wait(lambda: _main_pid(manager) not in (0, daemon_pid), "the restarted daemon")
            assert _alive(holder)
            # A restart (SIGTERM to the daemon, then the unit's cgroup is emptied) spares it too.
            second = _main_pid(manager)
            manager.systemctl("restart", SYSTEMD_UNIT)
            assert _main_pid(manager) not in (0, second)
            assert _alive(holder)
        else:
            _wait(lambda: not _alive(holder), "the unscoped holder to die with the service")
        manager.systemctl("stop", SYSTEMD_UNIT, check=False)

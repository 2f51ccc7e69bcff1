"""Daemon lifecycle verbs: ``daemon`` (foreground), ``up``, ``down`` and ``ping``.

Heavy imports stay inside the commands.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from wzp_supervisor import paths
from wzp_supervisor.cli.common import (
    EXIT_NOT_RUNNING,
    config_option,
    echo,
    fail,
    human_duration,
)
from wzp_supervisor.cli.hub_client import (
    EXIT_INTERRUPTED,
    DaemonNotRunning,
    HubClient,
    HubError,
    RequestFailed,
    UnsafeHub,
    command_request,
)


def _ping(timeout: float = 2.0) -> dict[str, Any] | None:
    """The daemon's ping reply (None: none answers); exits 1 for a hub that is not ours."""
    try:
        with HubClient(timeout=timeout) as client:
            return client.request("ping")
    except UnsafeHub as exc:
        fail(str(exc))
    except RequestFailed as exc:  # e.g. the daemon is at its connection cap: say so
        fail(f"the wzp daemon refused: {exc.message}")
    except (DaemonNotRunning, OSError, ConnectionError):
        return None


def _print_warnings(answer: dict[str, Any], config_path: Path | None) -> None:
    """What the user should know at start: config problems and the daemon's own warnings."""
    from wzp_supervisor.config import ConfigError, load_config
    from wzp_supervisor.preflight import config_warnings

    try:
        cfg = load_config(config_path)
    except (ConfigError, OSError):
        cfg = None
    if cfg is not None:
        for warning in config_warnings(cfg, os.environ):
            echo(str(warning), err=True)
    for text in answer.get("warnings") or []:
        echo(f"wzp daemon: warning: {text}", err=True)


@click.command()
@click.argument("action", required=False, type=click.Choice(["restart"]))
@config_option
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait (restart).")
def daemon(action: str | None, config_path: Path | None, timeout: float) -> None:
    """Run the supervisor in the foreground (what systemd and launchd run).

    `wzp daemon restart` replaces the running daemon with a new one (the installed version,
    the current config) and keeps every agent running: the new daemon adopts them.

    \b
    Example:
      wzp daemon restart      # after upgrading wezterm-parallel
    """
    if action == "restart":
        _restart(timeout)
        return
    from wzp_supervisor.daemon import run_daemon

    sys.exit(run_daemon(config_path))


def _restart(timeout: float) -> None:
    before = _ping()
    if before is None:
        fail("the wzp daemon is not running; run `wzp up`", EXIT_NOT_RUNNING)
    asked = time.monotonic()
    command_request("daemon.restart")
    deadline = asked + timeout
    while time.monotonic() < deadline:
        answer = _ping(timeout=1.0)
        if answer is not None and answer["uptime"] < time.monotonic() - asked:
            agents = command_request("status")["processes"]
            running = sum(1 for p in agents if p.get("state") == "running")
            echo(
                f"wzp daemon restarted (pid {answer['pid']}, version {answer['version']}); "
                f"{running} running processes kept"
            )
            return
        time.sleep(0.1)
    fail(f"the daemon did not come back within {timeout:g}s (see {paths.logs_dir()})")


@click.command()
@config_option
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for it.")
def up(config_path: Path | None, timeout: float) -> None:
    """Start the daemon in the background and wait until it answers."""
    running = _ping()
    if running:
        click.echo(f"wzp daemon already running (pid {running['pid']})")
        _print_warnings(running, config_path)
        return
    if config_path is not None:
        from wzp_supervisor.config import ConfigError, load_config

        try:
            load_config(config_path)
        except ConfigError as exc:
            fail(str(exc))
    from wzp_supervisor.daemon_logging import daemon_out_path, open_daemon_out

    out = daemon_out_path()
    argv = [sys.executable, "-m", "wzp_supervisor", "daemon"]
    if config_path is not None:
        argv += ["--config", os.fspath(config_path.resolve())]
    proc: subprocess.Popen[bytes] | None = None
    interrupted: list[int] = []
    try:
        # ctrl+c while the daemon is being spawned is noted and acted on once the spawn is
        # done (a KeyboardInterrupt inside Popen would lose the child it started)
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
        try:
            with open_daemon_out() as sink:
                start = os.fstat(sink.fileno()).st_size
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=sink,
                    start_new_session=True,
                    close_fds=True,
                )
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted:
            raise KeyboardInterrupt
        answer = _wait_started(proc, timeout)
    except KeyboardInterrupt:
        if proc is None:
            fail("interrupted before the daemon was started", EXIT_INTERRUPTED)
        _stop_starting(proc)
        fail("interrupted: stopped the daemon that was starting", EXIT_INTERRUPTED)
    if answer:
        click.echo(f"wzp daemon started (pid {answer['pid']})")
        _print_warnings(answer, config_path)
        return
    with open(out, "rb") as log_file:
        log_file.seek(start)
        tail = log_file.read().decode(errors="replace").strip()
    if proc.poll() is None:
        fail(f"the daemon did not answer within {timeout:g}s (log: {out})")
    fail(f"the daemon exited with code {proc.returncode}:\n{tail}")


def _wait_started(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any] | None:
    """The daemon's first ping reply; None when it exited or did not answer in time."""
    from rich.console import Console

    console = Console(stderr=True)
    deadline = time.monotonic() + timeout
    with console.status("starting the wzp daemon…", spinner="dots"):
        while time.monotonic() < deadline:
            answer = _ping(timeout=1.0)
            if answer:
                return answer
            if proc.poll() is not None:
                return None
            time.sleep(0.05)
    return None


def _stop_starting(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Stop a daemon ``up`` started (ctrl+c while waiting): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


@click.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for it.")
def down(timeout: float) -> None:
    """Stop every agent gracefully, save state and stop the daemon.

    With no daemon running there is nothing to do, and that is success.
    """
    try:
        answer = command_request("shutdown")
    except HubError as exc:
        if exc.exit_code != EXIT_NOT_RUNNING:
            fail(exc.message, exc.exit_code)
        echo("wzp daemon is not running (nothing to stop)")
        return
    pid = int(answer["pid"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _process_alive(pid):
            click.echo("wzp daemon stopped")
            return
        time.sleep(0.05)
    fail(f"the daemon (pid {pid}) is still stopping after {timeout:g}s")


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@click.command()
def ping() -> None:
    """Check that the daemon answers (exit 3 when it does not)."""
    answer = _ping()
    if answer is None:
        fail("the wzp daemon is not running; run `wzp up`", EXIT_NOT_RUNNING)
    echo(
        f"pong: pid {answer['pid']}, version {answer['version']}, "
        f"up {human_duration(answer['uptime'])}"
    )

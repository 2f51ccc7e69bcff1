"""Core verbs: up, down, daemon, ping, status, list, start/stop/restart/kill, workspace, layout,
config. Heavy imports stay inside the commands: ``wzp status`` is timed whole-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from wzp_supervisor import paths
from wzp_supervisor.cli.common import (
    EXIT_NOT_RUNNING,
    fail,
    hub_request,
    human_duration,
    json_option,
    print_json,
    table,
)
from wzp_supervisor.client import DaemonNotRunning, HubClient
from wzp_supervisor.render import filter_target, render_processes
from wzp_supervisor.summary import state_of

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $XDG_CONFIG_HOME/wezterm-parallel/config.yaml).",
)


def _ping(timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with HubClient(timeout=timeout) as client:
            return client.request("ping")
    except (DaemonNotRunning, OSError, ConnectionError):
        return None


# -- daemon lifecycle ---------------------------------------------------------------------


@click.command()
@config_option
def daemon(config_path: Path | None) -> None:
    """Run the supervisor in the foreground (what systemd and launchd run)."""
    from wzp_supervisor.daemon import run_daemon

    sys.exit(run_daemon(config_path))


@click.command()
@config_option
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for it.")
def up(config_path: Path | None, timeout: float) -> None:
    """Start the daemon in the background and wait until it answers."""
    running = _ping()
    if running:
        click.echo(f"wzp daemon already running (pid {running['pid']})")
        return
    if config_path is not None:
        from wzp_supervisor.config import ConfigError, load_config

        try:
            load_config(config_path)
        except ConfigError as exc:
            fail(str(exc))
    log_dir = paths.logs_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    out = log_dir / "daemon.out"
    argv = [sys.executable, "-m", "wzp_supervisor", "daemon"]
    if config_path is not None:
        argv += ["--config", os.fspath(config_path.resolve())]
    with open(out, "ab") as sink:
        start = out.stat().st_size
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
            close_fds=True,
        )
    from rich.console import Console

    console = Console(stderr=True)
    deadline = time.monotonic() + timeout
    with console.status("starting the wzp daemon…", spinner="dots"):
        while time.monotonic() < deadline:
            answer = _ping(timeout=1.0)
            if answer:
                click.echo(f"wzp daemon started (pid {answer['pid']})")
                return
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    with open(out, "rb") as log_file:
        log_file.seek(start)
        tail = log_file.read().decode(errors="replace").strip()
    if proc.poll() is None:
        fail(f"the daemon did not answer within {timeout:g}s (log: {out})")
    fail(f"the daemon exited with code {proc.returncode}:\n{tail}")


@click.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for it.")
def down(timeout: float) -> None:
    """Stop every agent gracefully, save state and stop the daemon."""
    answer = hub_request("shutdown")
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
    click.echo(
        f"pong: pid {answer['pid']}, version {answer['version']}, "
        f"up {human_duration(answer['uptime'])}"
    )


# -- views --------------------------------------------------------------------------------


@click.command()
@json_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "wezterm"]),
    default="table",
    help="wezterm: the one-line summary the WezTerm status bar shows.",
)
@click.argument("target", required=False)
def status(as_json: bool, fmt: str, target: str | None) -> None:
    """Every supervised process with state, pid, uptime and restarts (like circusctl status)."""
    answer = hub_request("status")
    processes = filter_target(answer["processes"], target)
    if target and target != "all" and not processes:
        fail(f"no workspace or process named {target!r}")
    if as_json:
        print_json(
            {"daemon": answer["daemon"], "workspaces": answer["workspaces"], "processes": processes}
        )
        return
    if fmt == "wezterm":
        from wzp_supervisor.summary import one_line

        click.echo(one_line(processes))
        return
    if not processes:
        click.echo("no supervised processes; create a workspace with `wzp workspace create`")
        return
    click.echo(render_processes(processes))


@click.command(name="list")
@json_option
def list_processes(as_json: bool) -> None:
    """Supervised processes, one target a line (like circusctl list)."""
    processes = hub_request("process.list")["processes"]
    if as_json:
        print_json({"processes": processes})
        return
    for proc in processes:
        click.echo(f"{proc['target']}\t{state_of(proc)}")


def _control(action: str, doc: str) -> click.Command:
    @click.command(name=action, help=doc)
    @click.argument("target")
    @json_option
    def command(target: str, as_json: bool) -> None:
        answer = hub_request(f"process.{action}", target=target, socket_timeout=None)
        if as_json:
            print_json(answer)
            return
        for proc in answer["processes"]:
            click.echo(
                f"{proc['target']}: {proc['state']}"
                + (f" (pid {proc['pid']})" if proc.get("pid") else "")
            )

    return command


@click.command(name="signal")
@click.argument("target")
@click.argument("signame")
def signal_cmd(target: str, signame: str) -> None:
    """Send a signal such as HUP or USR1 to TARGET's process group (policy still applies)."""
    answer = hub_request("process.signal", target=target, signal=signame)
    click.echo(f"sent {answer['signal']} to {', '.join(answer['signalled'])}")


# -- workspaces ---------------------------------------------------------------------------


@click.group()
def workspace() -> None:
    """Create, list, delete and switch workspaces."""


@workspace.command(name="create")
@click.argument("name")
@click.option("--template", "-t", help="Template name (default: workspaces.default_template).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory the agents work in (default: the current directory).",
)
@json_option
def workspace_create(
    name: str, template: str | None, directory: Path | None, as_json: bool
) -> None:
    """Create workspace NAME from a template and start its agents."""
    target_dir = (directory or Path.cwd()).expanduser().resolve()
    fields: dict[str, Any] = {"name": name, "dir": os.fspath(target_dir)}
    if template:
        fields["template"] = template
    answer = hub_request("workspace.create", socket_timeout=None, **fields)
    if as_json:
        print_json(answer)
        return
    ws = answer["workspace"]
    click.echo(f"workspace {ws['name']} created from template {ws['template']} in {ws['dir']}")
    for target in ws["processes"]:
        click.echo(f"  {target}    attach: wzp attach {target}")
    from wzp_supervisor.cli.wezterm_spawn import maybe_lay_out

    maybe_lay_out(ws["name"])


@workspace.command(name="list")
@json_option
def workspace_list(as_json: bool) -> None:
    """Workspaces with their template, directory and counts by state."""
    answer = hub_request("workspace.list")
    if as_json:
        print_json(answer)
        return
    rows = []
    for ws in answer["workspaces"]:
        counts = " ".join(f"{k}={v}" for k, v in sorted(ws["totals"].items()))
        rows.append([ws["name"], ws["template"], str(len(ws["processes"])), counts, ws["dir"]])
    if not rows:
        click.echo("no workspaces; create one with `wzp workspace create NAME`")
        return
    click.echo(table(rows, ["workspace", "template", "procs", "states", "dir"]))


@workspace.command(name="delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also remove worktrees holding unsaved work.")
def workspace_delete(name: str, force: bool) -> None:
    """Stop workspace NAME's processes and forget it."""
    answer = hub_request("workspace.delete", socket_timeout=None, name=name, force=force)
    click.echo(
        f"workspace {answer['deleted']} deleted ({len(answer['processes'])} processes stopped)"
    )


@workspace.command(name="switch")
@click.argument("name")
def workspace_switch(name: str) -> None:
    """Show workspace NAME in WezTerm (or print its attach commands without WezTerm)."""
    listing = hub_request("workspace.list")["workspaces"]
    if not any(ws["name"] == name for ws in listing):
        fail(f"no workspace named {name!r}")
    from wzp_supervisor.cli.wezterm_spawn import switch_to

    switch_to(name)


# -- layout and config --------------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (the default).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for a template's plan (default: current directory).",
)
@config_option
def layout(name: str, as_json: bool, directory: Path | None, config_path: Path | None) -> None:
    """The pane split plan of workspace or template NAME (used by the WezTerm plugin)."""
    del as_json  # JSON is the only output format
    plan: dict[str, Any] | None = None
    try:
        with HubClient(timeout=10) as client:
            listing = client.request("workspace.list")["workspaces"]
            if any(ws["name"] == name for ws in listing):
                plan = client.request("layout", name=name)["layout"]
    except (DaemonNotRunning, OSError, ConnectionError):
        plan = None
    if plan is None:
        from wzp_supervisor import templates
        from wzp_supervisor.config import ConfigError, load_config

        try:
            cfg = load_config(config_path)
        except ConfigError as exc:
            fail(str(exc))
        template = cfg.templates.get(name)
        if template is None:
            fail(f"no workspace or template named {name!r}")
        plan = templates.layout_plan(
            name,
            template,
            (directory or Path.cwd()).resolve(),
            default_command=tuple(cfg.processes.command),
        )
    click.echo(json.dumps(plan, indent=2))


@click.group()
def config() -> None:
    """Check and show the configuration."""


@config.command(name="check")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
def config_check(path: Path | None) -> None:
    """Validate PATH (default: the user's config file); errors name file, line and key."""
    from wzp_supervisor.config import ConfigError, load_config

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(f"{exc.filename}: no such file")
    from wzp_supervisor.preflight import config_warnings

    for warning in config_warnings(cfg, os.environ):
        click.echo(str(warning), err=True)
    source = cfg.path or "built-in defaults"
    click.echo(f"{source}: ok ({len(cfg.templates)} templates: {', '.join(sorted(cfg.templates))})")


@config.command(name="show")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "toml", "json"]),
    default="yaml",
    show_default=True,
)
@config_option
def config_show(fmt: str, config_path: Path | None) -> None:
    """Print the effective configuration (secrets masked)."""
    from wzp_supervisor.config import ConfigError, dump_config, load_config

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
    click.echo(dump_config(cfg, fmt).rstrip("\n"))  # type: ignore[arg-type]


def register(group: click.Group) -> None:
    """Add the core verbs to the root group."""
    for command in (
        daemon,
        up,
        down,
        ping,
        status,
        list_processes,
        signal_cmd,
        workspace,
        layout,
        config,
    ):
        group.add_command(command)
    for action, doc in (
        ("start", "Start TARGET (ws, ws/pane or all); clears backoff and fatal."),
        ("stop", "Stop TARGET gracefully (SIGTERM to the group, SIGKILL after the timeout)."),
        ("restart", "Stop then start TARGET."),
        ("kill", "Kill TARGET's whole process tree at once (SIGKILL); it stays stopped."),
    ):
        group.add_command(_control(action, doc))

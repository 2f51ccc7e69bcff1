"""``wzp service install|uninstall|status|logs`` and ``wzp reload``.

Thin: parse, call :mod:`wzp_supervisor.service.install` or the hub client, render. Both are
imported inside the commands so ``wzp`` starts fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from wzp_supervisor.cli.common import echo

if TYPE_CHECKING:
    from wzp_supervisor.service.install import Runner, Setup

__all__ = ["register", "reload_cmd", "service"]

EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3
RELOAD_WAIT_TIMEOUT = 300.0


def _setup(ctx: click.Context, *, read_config: bool = False) -> Setup:
    """What the service commands act on; only install needs the config (for the timeouts)."""
    from wzp_supervisor.service.install import DEFAULT_GRACEFUL_TIMEOUT, ServiceError, Setup

    try:
        return Setup.detect(
            platform=ctx.obj.get("platform") if ctx.obj else None,
            graceful_timeout=None if read_config else DEFAULT_GRACEFUL_TIMEOUT,
        )
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc


def _runner(dry_run: bool = False) -> Runner:
    from wzp_supervisor.service.install import Runner

    return Runner(dry_run=dry_run, out=click.echo, err=lambda text: click.echo(text, err=True))


@click.group("service")
@click.option(
    "--platform",
    type=click.Choice(["linux", "macos"]),
    hidden=True,
    envvar="WZP_SERVICE_PLATFORM",
    help="Act as on this platform instead of the running one (for tests).",
)
@click.pass_context
def service(ctx: click.Context, platform: str | None) -> None:
    """Run the daemon as a user service that outlives logins, terminals and crashes.

    On Linux this is a systemd user unit, wezterm-parallel.service, in
    $XDG_CONFIG_HOME/systemd/user/ (~/.config/systemd/user/), with the PATH captured at install
    time in ~/.config/wezterm-parallel/service.env. On macOS it is a launchd LaunchAgent,
    ~/Library/LaunchAgents/io.github.wezterm-parallel.daemon.plist, logging to
    ~/Library/Logs/wezterm-parallel/.

    The service runs `python -m wzp_supervisor daemon` with the interpreter that ran
    `wzp service install`: run the install again after moving or upgrading that interpreter.
    Secrets never go into these files; the agents read theirs from the daemon's environment.

    \b
    Typical use:
      wzp service install --now     write the unit, enable it and start it
      wzp service status            is it running?
      wzp service logs -f           follow its output
      wzp reload --wait             apply an edited config.yaml
      wzp service uninstall         stop it and remove every file install wrote
    """
    ctx.ensure_object(dict)
    ctx.obj["platform"] = platform


@service.command("install")
@click.option("--now", is_flag=True, help="Also start the service (restart it if it changed).")
@click.option(
    "--dry-run", is_flag=True, help="Print every file and command instead; change nothing."
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a unit or plist that wzp did not write (it is kept and put back by uninstall).",
)
@click.pass_context
def install_cmd(ctx: click.Context, now: bool, dry_run: bool, force: bool) -> None:
    """Install the daemon as a user service.

    \b
    Linux (systemd --user):
      writes ~/.config/systemd/user/wezterm-parallel.service and
      ~/.config/wezterm-parallel/service.env (PATH, so agents find node and claude), then runs
        systemctl --user daemon-reload
        systemctl --user enable [--now] wezterm-parallel.service
      The unit is Type=notify with a watchdog, restarts on failure, and `systemctl --user
      reload` runs `wzp reload --wait`. If lingering is off you are told to run
      `loginctl enable-linger $USER`, without which the agents stop when you log out.

    \b
    macOS (launchd):
      writes ~/Library/LaunchAgents/io.github.wezterm-parallel.daemon.plist; with --now runs
        launchctl bootstrap gui/$UID <plist>
        launchctl kickstart gui/$UID/io.github.wezterm-parallel.daemon
      Without --now launchd loads it at your next login.

    Running it again is safe: files already right are left alone ("already installed"). A file
    at the same path that wzp did not write is never overwritten without --force. What was done
    is recorded in the state dir so `wzp service uninstall` can undo exactly that.
    """
    from wzp_supervisor.service.install import ServiceError, install

    setup = _setup(ctx, read_config=True)
    try:
        install(setup, _runner(dry_run), now=now, force=force)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc


@service.command("uninstall")
@click.option(
    "--dry-run", is_flag=True, help="Print every file and command instead; change nothing."
)
@click.pass_context
def uninstall_cmd(ctx: click.Context, dry_run: bool) -> None:
    """Stop the service and remove what `wzp service install` wrote.

    On Linux: `systemctl --user disable --now wezterm-parallel.service`, remove the unit and
    service.env, `systemctl --user daemon-reload`. On macOS: `launchctl bootout` and remove the
    plist; the log files stay. A file that --force replaced is put back. Agents stop with the
    daemon. Saying so when nothing is installed is not an error.
    """
    from wzp_supervisor.service.install import ServiceError, uninstall

    setup = _setup(ctx)
    try:
        uninstall(setup, _runner(dry_run))
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc


@service.command("status")
@click.pass_context
def status_cmd(ctx: click.Context) -> None:
    """Show the service manager's view of the daemon.

    Runs `systemctl --user status wezterm-parallel.service` or `launchctl print
    gui/$UID/io.github.wezterm-parallel.daemon`. Exit status 0 when it is running, 3 when it is
    not, 1 on other trouble. For the agents themselves use `wzp status`.
    """
    from wzp_supervisor.service.install import ServiceError, status

    try:
        code = status(_setup(ctx), _runner())
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    ctx.exit(code)


@service.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until interrupted.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="How many recent lines to show.",
)
@click.pass_context
def logs_cmd(ctx: click.Context, follow: bool, lines: int) -> None:
    """Show the service's output.

    Runs `journalctl --user -u wezterm-parallel.service` on Linux and tails
    ~/Library/Logs/wezterm-parallel/daemon.{out,err}.log on macOS. The daemon's own structured
    log (JSON lines) is in the state dir; an agent's output is `wzp logs WS/PANE`.
    """
    from wzp_supervisor.service.install import ServiceError, logs

    try:
        code = logs(_setup(ctx), _runner(), follow=follow, lines=lines)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        code = 0
    ctx.exit(code)


@click.command("reload")
@click.option(
    "--wait",
    is_flag=True,
    help="Return only when the new config is applied (or rejected); systemd's ExecReload uses it.",
)
def reload_cmd(wait: bool) -> None:
    """Make the daemon re-read its config (like SIGHUP).

    Changed workspace templates are applied to running workspaces; agents whose spec did not
    change keep running. A config with errors is rejected with file, line and key, and the
    daemon keeps the config it has (exit status 1). Exit status 3 when the daemon is not
    running.
    """
    from wzp_supervisor.cli.hub_client import (
        DaemonNotRunning,
        HubClient,
        RequestFailed,
        UnsafeHub,
    )

    # Applying a reload may restart agents; give --wait as long as a service stop may take.
    try:
        with HubClient(timeout=RELOAD_WAIT_TIMEOUT if wait else 30.0) as client:
            reply = client.request("reload", wait=wait)
    except DaemonNotRunning:
        click.echo("wzp: the daemon is not running (run `wzp up`)", err=True)
        sys.exit(EXIT_NOT_RUNNING)
    except RequestFailed as exc:
        if exc.code == "conflict":  # applied, but something keeps running from before
            echo(f"wzp: reload: warning: {exc.message}", multiline=True, err=True)
        else:
            echo(f"wzp: reload failed ({exc.code}): {exc.message}", multiline=True, err=True)
        sys.exit(EXIT_FAILED)
    except UnsafeHub as exc:
        echo(f"wzp: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except OSError as exc:  # timeouts, a connection closed mid-reply
        echo(f"wzp: reload: no answer from the daemon: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    echo(_describe_reload(reply, wait))


def _describe_reload(reply: dict[str, Any], wait: bool) -> str:
    if not wait:
        return "reload requested"
    parts = []
    for key in ("changed", "restarted", "started", "stopped"):
        value = reply.get(key)
        if isinstance(value, list) and value:
            parts.append(f"{key}: {', '.join(str(v) for v in value)}")
    return "reloaded" + (f" ({'; '.join(parts)})" if parts else "")


def register(group: click.Group) -> None:
    """Add ``service`` and ``reload`` to the root ``wzp`` group."""
    group.add_command(service)
    group.add_command(reload_cmd)

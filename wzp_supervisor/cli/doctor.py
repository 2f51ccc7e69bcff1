"""``wzp doctor``: what stands between the user and working agents, and what to do about it.

Each check gives a status (``ok``, ``warn``: works but worth knowing, ``fail``: agents will
not work), what it found and, when not ok, the fix as a command or a line to paste.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

import click

from wzp_supervisor.cli.common import EXIT_FAILED, config_option, echo, print_json

TESTED_CLAUDE = "2.1.332"
"""The Claude Code version the test suite drives (its TUI text and hooks); 2.1.197 passes too."""

STATUS_STALE_S = 5.0
Status = Literal["ok", "warn", "fail"]
# what makes a Claude agent able to call the model, besides a login
_LOGIN_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
)


class Check(TypedDict):
    """One line of the doctor's report."""

    name: str
    status: Status
    detail: str
    fix: str | None


def _check(name: str, status: Status, detail: str, fix: str | None = None) -> Check:
    return {"name": name, "status": status, "detail": detail, "fix": fix}


def _daemon() -> dict[str, Any] | None:
    """The daemon's ping reply, or None when none answers."""
    from wzp_supervisor.cli.hub_client import HubClient

    try:
        with HubClient(timeout=2) as client:
            return client.request("ping")
    except Exception:
        return None


def _daemon_environ(pid: int) -> dict[str, str] | None:
    """The running daemon's environment (what agents inherit from), None if unreadable."""
    import psutil

    try:
        return dict(psutil.Process(pid).environ())
    except (psutil.Error, OSError):
        return None


def check_config(config_path: Path | None, environ: Mapping[str, str]) -> tuple[list[Check], Any]:
    """The config loads; its warnings (each a ``warn``); the loaded config or None."""
    from wzp_supervisor.config import ConfigError, load_config
    from wzp_supervisor.preflight import config_warnings

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        return [_check("config", "fail", str(exc), "fix the file, then `wzp config check`")], None
    except FileNotFoundError as exc:
        return [_check("config", "fail", f"{exc.filename}: no such file")], None
    checks = [_check("config", "ok", str(cfg.path or "built-in defaults"))]
    for warning in config_warnings(cfg, environ):
        checks.append(_check("config", "warn", str(warning), "`wzp config check` for details"))
    return checks, cfg


def check_agent_cli(command: list[str], environ: Mapping[str, str]) -> Check:
    """The agent CLI is on PATH; its version and whether it is the tested one."""
    program = command[0] if command else "claude"
    found = shutil.which(program, path=environ.get("PATH"))
    if found is None:
        return _check(
            "agent CLI",
            "fail",
            f"{program} is not on PATH",
            "npm install -g @anthropic-ai/claude-code, or set processes.claude_code.command "
            "to its full path in the config",
        )
    try:
        run = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
        output = run.stdout.strip() or run.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _check("agent CLI", "warn", f"{found}: `--version` failed ({exc})")
    match = re.search(r"\d+\.\d+\.\d+", output)
    version = match.group() if match else None
    if version is None:
        return _check("agent CLI", "warn", f"{found}: no version in {output[:60]!r}")
    detail = f"{found} {version} (tested: {TESTED_CLAUDE})"
    same_line = version.split(".")[:2] == TESTED_CLAUDE.split(".")[:2]
    if not same_line:
        fix = f"npm install -g @anthropic-ai/claude-code@{TESTED_CLAUDE}"
        return _check("agent CLI", "warn", detail + "; other versions may differ", fix)
    return _check("agent CLI", "ok", detail)


def _claude_login(environ: Mapping[str, str]) -> Path | None:
    """Where a Claude Code login is kept, if there is one."""
    home = Path(environ.get("HOME") or Path.home())
    config_dir = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")
    credentials = config_dir / ".credentials.json"
    if credentials.is_file():
        return credentials
    for settings in (home / ".claude.json", config_dir / ".claude.json"):
        try:
            data = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("oauthAccount"):
            return settings
    return None


def check_credentials(
    environ: Mapping[str, str], whose: str, running: bool, configured: Mapping[str, str]
) -> Check:
    """An API key (or provider switch) in ``environ`` or in the config's agent environment
    (``configured``, which wins), or a login in ~/.claude."""
    from wzp_supervisor.agent_environment import credential_names, resolve_environment

    resolved, _ = resolve_environment(configured, environ)
    from_config = [n for n in _LOGIN_VARS if resolved.get(n)]
    if from_config:
        where = "processes.claude_code.environment"
        return _check("credentials", "ok", f"{', '.join(from_config)} from {where}")
    granted = [
        n
        for n in credential_names("claude", environ)
        if n in _LOGIN_VARS and environ[n] and n not in configured
    ]
    if granted:
        return _check("credentials", "ok", f"{', '.join(granted)} in {whose}; agents get it")
    login = _claude_login(environ)
    if login is not None:
        return _check("credentials", "ok", f"a Claude Code login in {login}")
    start = "wzp down && wzp up" if running else "wzp up"
    fix = f"export ANTHROPIC_API_KEY=sk-ant-… then `{start}`; or log in: `claude`, then /login"
    return _check("credentials", "fail", f"no API key in {whose} and no login in ~/.claude", fix)


def check_runtime_dir() -> Check:
    """The runtime dir exists (or can be made) and is private."""
    from wzp_supervisor import paths

    try:
        directory = paths.runtime_dir()
    except paths.RuntimeDirError as exc:
        return _check("runtime dir", "fail", str(exc), "remove or chmod 700 that directory")
    return _check("runtime dir", "ok", f"{directory} (private)")


def check_daemon(answer: dict[str, Any] | None) -> Check:
    if answer is None:
        return _check("daemon", "warn", "not running", "wzp up")
    return _check("daemon", "ok", f"pid {answer['pid']}, version {answer['version']}")


def check_service() -> Check:
    """Whether the daemon is installed as a user service (optional)."""
    from wzp_supervisor.service.platform import (
        detect_platform,
        launchd_plist_path,
        systemd_unit_path,
    )

    try:
        platform = detect_platform()
    except Exception as exc:  # an unsupported platform: nothing to install
        return _check("service", "ok", f"not available here ({exc})")
    unit = systemd_unit_path() if platform == "linux" else launchd_plist_path(Path.home())
    if unit.exists():
        return _check("service", "ok", f"installed ({unit})")
    fix = "wzp service install --now   (optional: keeps the daemon across logins)"
    return _check("service", "ok", "not installed", fix)


def check_wezterm(running: bool) -> list[Check]:
    """WezTerm on PATH; the status file the plugin reads is fresh."""
    from wzp_supervisor import paths

    checks = []
    found = shutil.which("wezterm")
    if found:
        checks.append(_check("wezterm", "ok", found))
    else:
        fix = "install WezTerm to see agents in panes; `wzp attach ws/pane` works in any terminal"
        checks.append(_check("wezterm", "warn", "wezterm is not on PATH", fix))
    status = paths.status_json()
    try:
        ts = float(json.loads(status.read_text(encoding="utf-8"))["ts"])
    except (OSError, ValueError, KeyError, TypeError):
        if running:
            checks.append(_check("status file", "warn", f"{status} is missing or unreadable"))
        else:
            checks.append(_check("status file", "ok", "none (the daemon is not running)"))
        return checks
    age = time.time() - ts
    if age > STATUS_STALE_S:
        fix = "wzp down && wzp up" if running else "wzp up"
        checks.append(_check("status file", "warn", f"{status} is {age:.0f}s old (stale)", fix))
    else:
        checks.append(_check("status file", "ok", f"{status} ({age:.1f}s old)"))
    return checks


def run_checks(config_path: Path | None) -> list[Check]:
    """Every check, in the order a new user meets them."""
    answer = _daemon()
    daemon_env = _daemon_environ(int(answer["pid"])) if answer else None
    environ = daemon_env if daemon_env is not None else dict(os.environ)
    whose = "the daemon's environment" if daemon_env is not None else "this shell"
    checks, cfg = check_config(config_path, environ)
    command = list(cfg.processes.command) if cfg is not None else ["claude"]
    checks.append(check_agent_cli(command, environ))
    configured = dict(cfg.processes.environment) if cfg is not None else {}
    checks.append(check_credentials(environ, whose, answer is not None, configured))
    checks.append(check_runtime_dir())
    checks.append(check_daemon(answer))
    checks.append(check_service())
    checks += check_wezterm(answer is not None)
    return checks


_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def doctor(config_path: Path | None, as_json: bool) -> None:
    """Check what agents need (CLI, credentials, dirs, daemon, WezTerm) and say what to do.

    Exit status 1 when a check fails (agents will not work as things are).

    \b
    Example:
      wzp doctor
    """
    checks = run_checks(config_path)
    failed = any(c["status"] == "fail" for c in checks)
    if as_json:
        print_json({"ok": not failed, "checks": checks})
    else:
        width = max(len(c["name"]) for c in checks)
        for c in checks:
            echo(f"{_MARK[c['status']]}  {c['name'].ljust(width)}  {c['detail']}")
            if c["fix"] and c["status"] != "ok":
                echo(f"      {''.ljust(width)}  fix: {c['fix']}")
    if failed:
        raise SystemExit(EXIT_FAILED)

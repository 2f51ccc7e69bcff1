"""Registering the installed files with the platform's service manager.

:class:`SystemdRegistration` drives ``systemctl --user`` (plus ``loginctl`` for lingering and
``journalctl`` for logs); :class:`LaunchdRegistration` drives ``launchctl`` (and ``tail``).
Both act only through a :class:`~wzp_supervisor.service.runner.Runner`, so a dry run prints
every command. :func:`registration_for` picks the one for a :class:`Setup`.
"""

from __future__ import annotations

import os
import shlex
from typing import Protocol

from wzp_supervisor.service import LAUNCHD_LABEL, SYSTEMD_UNIT
from wzp_supervisor.service.manifest import Manifest
from wzp_supervisor.service.platform import Setup, launchd_log_dir, launchd_plist_path
from wzp_supervisor.service.runner import Runner

__all__ = ["LaunchdRegistration", "Registration", "SystemdRegistration", "registration_for"]


class Registration(Protocol):
    """One service manager's side of install, uninstall, status and logs."""

    def register(self, manifest: Manifest, *, now: bool, changed: bool) -> None:
        """Make the manager know (and with ``now`` run) the service; record it in ``manifest``.

        ``changed`` says the installed files were just written.
        """

    def unregister(self, manifest: Manifest) -> None:
        """Stop the service and make the manager forget it (before the files are removed)."""

    def after_removal(self) -> None:
        """Whatever follows removing the files."""

    def status(self) -> int:
        """Show the manager's view; 0 running, 3 not running, 1 other trouble."""

    def logs(self, *, follow: bool, lines: int) -> int:
        """Print the service's recent output; an exit code."""


class SystemdRegistration:
    """``systemctl --user`` for the unit ``wezterm-parallel.service``."""

    def __init__(self, setup: Setup, runner: Runner) -> None:
        self.setup = setup
        self.runner = runner

    def register(self, manifest: Manifest, *, now: bool, changed: bool) -> None:
        runner = self.runner
        systemctl = ["systemctl", "--user"]
        if changed:
            runner.run([*systemctl, "daemon-reload"])
            if now:  # a running daemon picks up the new unit; a stopped one stays stopped here
                runner.run([*systemctl, "try-restart", SYSTEMD_UNIT])
        runner.run([*systemctl, "enable", *(["--now"] if now else []), SYSTEMD_UNIT])
        if not now:
            runner.say(
                "enabled: it starts at your next login, or now with "
                f"`systemctl --user start {SYSTEMD_UNIT}`"
            )
        user = self.setup.user
        linger = runner.run(
            ["loginctl", "show-user", user, "--property=Linger"], check=False, capture=True
        )
        enable_linger = f"loginctl enable-linger {shlex.quote(user)}"
        if linger is None:
            runner.say(
                f"(dry run) if lingering is off for {user}, the agents stop at logout; "
                f"`{enable_linger}` keeps them running and starts them at boot"
            )
        elif linger.stdout.strip() != "Linger=yes":
            runner.say(
                "note: without lingering the service stops when you log out and starts only at "
                f"login; to keep agents running without a login session, run: {enable_linger}"
            )
        manifest["enabled"] = True

    def unregister(self, manifest: Manifest) -> None:
        if manifest.get("enabled"):
            self.runner.run(["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT], check=False)

    def after_removal(self) -> None:
        self.runner.run(["systemctl", "--user", "daemon-reload"])

    def status(self) -> int:
        result = self.runner.run(
            ["systemctl", "--user", "status", "--no-pager", SYSTEMD_UNIT], check=False, echo=False
        )
        code = 0 if result is None else result.returncode
        return code if code in (0, 3) else 1

    def logs(self, *, follow: bool, lines: int) -> int:
        argv = ["journalctl", "--user", "-u", SYSTEMD_UNIT, "-n", str(lines), "--no-pager"]
        result = self.runner.run([*argv, *(["-f"] if follow else [])], check=False, echo=False)
        return 0 if result is None or result.returncode == 0 else 1


class LaunchdRegistration:
    """``launchctl`` for the LaunchAgent ``io.github.wezterm-parallel.daemon``."""

    def __init__(self, setup: Setup, runner: Runner) -> None:
        self.setup = setup
        self.runner = runner
        self.domain = f"gui/{setup.uid}"
        self.service = f"{self.domain}/{LAUNCHD_LABEL}"

    def register(self, manifest: Manifest, *, now: bool, changed: bool) -> None:
        loaded = self._bootstrap(now=now, changed=changed)
        manifest["loaded"] = bool(manifest.get("loaded")) or loaded

    def _bootstrap(self, *, now: bool, changed: bool) -> bool:
        """Bootstrap (with ``now``); True when the job is known to be loaded afterwards."""
        runner = self.runner
        runner.mkdir(launchd_log_dir(self.setup.home))
        plist = launchd_plist_path(self.setup.home)
        if not now:
            runner.say(
                f"launchd loads {plist.name} at your next login; to start it now run: "
                "wzp service install --now"
            )
            return False
        if changed:
            # Unload an older version, if any (it fails harmlessly when nothing is loaded).
            runner.run(["launchctl", "bootout", self.service], check=False, capture=True)
            loaded = False
        else:
            probe = runner.run(["launchctl", "print", self.service], check=False, capture=True)
            loaded = probe is not None and probe.returncode == 0
        if not loaded:
            runner.run(["launchctl", "bootstrap", self.domain, str(plist)])
        runner.run(["launchctl", "kickstart", self.service])
        return True

    def unregister(self, manifest: Manifest) -> None:
        if manifest.get("loaded") or any(
            str(f.get("path", "")).endswith(".plist") for f in manifest.get("files", [])
        ):
            self.runner.run(["launchctl", "bootout", self.service], check=False, capture=True)

    def after_removal(self) -> None:
        self.runner.say(f"logs kept in {launchd_log_dir(self.setup.home)}")

    def status(self) -> int:
        result = self.runner.run(["launchctl", "print", self.service], check=False, echo=False)
        if result is not None and result.returncode != 0:
            self.runner.err(f"{LAUNCHD_LABEL} is not loaded")
            return 3
        return 0

    def logs(self, *, follow: bool, lines: int) -> int:
        log_dir = launchd_log_dir(self.setup.home)
        files = [str(log_dir / name) for name in ("daemon.out.log", "daemon.err.log")]
        if not self.runner.dry_run and not any(os.path.exists(f) for f in files):
            self.runner.err(f"no service logs yet in {log_dir}")
            return 1
        argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), *files]
        result = self.runner.run(argv, check=False, echo=False)
        return 0 if result is None or result.returncode == 0 else 1


def registration_for(setup: Setup, runner: Runner) -> Registration:
    """The registration for ``setup.platform``."""
    if setup.platform == "linux":
        return SystemdRegistration(setup, runner)
    return LaunchdRegistration(setup, runner)

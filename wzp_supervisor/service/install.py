"""Install, uninstall and inspect the user service (the side effects behind ``wzp service``).

Everything that touches the system goes through one :class:`Runner`: writing and removing
files and running ``systemctl``/``loginctl``/``journalctl``/``launchctl``/``tail``. With
``dry_run`` the runner prints each file (with its content) and each command instead, and
changes nothing; it does not even run read-only queries.

What an install did is recorded in ``<state dir>/service-manifest.json`` (files written, with
their checksums and any backup taken under ``--force``; whether the service was enabled or
loaded), and uninstall reverses exactly that.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import plistlib
import pwd
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wzp_supervisor import __version__, paths
from wzp_supervisor.service import LAUNCHD_LABEL, SYSTEMD_UNIT, launchd, systemd
from wzp_supervisor.state import atomic_write

__all__ = [
    "DEFAULT_GRACEFUL_TIMEOUT",
    "Platform",
    "Runner",
    "ServiceError",
    "Setup",
    "detect_platform",
    "install",
    "logs",
    "manifest_path",
    "status",
    "uninstall",
]

Platform = Literal["linux", "macos"]

#: Used when the config cannot be read: ``processes.claude_code.timeout``'s default.
DEFAULT_GRACEFUL_TIMEOUT = 10.0

PLATFORM_ENV = "WZP_SERVICE_PLATFORM"


class ServiceError(Exception):
    """An install step was refused or a command failed; the message is for the user."""


def detect_platform(override: str | None = None) -> Platform:
    """``linux`` or ``macos``: from ``override``, else ``$WZP_SERVICE_PLATFORM``, else the OS."""
    value = override or os.environ.get(PLATFORM_ENV) or sys.platform
    if value.startswith("linux"):
        return "linux"
    if value in ("darwin", "macos"):
        return "macos"
    raise ServiceError(f"no user service support for platform {value!r} (linux and macos only)")


# --------------------------------------------------------------------------- what to install


@dataclass(frozen=True)
class Setup:
    """Everything an install depends on, captured once (see :meth:`detect`)."""

    platform: Platform
    python: str
    wzp: str | None
    path: str
    uid: int
    user: str
    home: Path
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    notes: tuple[str, ...] = ()

    @classmethod
    def detect(cls, platform: str | None = None, graceful_timeout: float | None = None) -> Setup:
        """Capture the running interpreter, the ``wzp`` next to it, PATH and the user.

        ``graceful_timeout`` defaults to the configured agents' stop timeout.
        """
        python = os.path.abspath(sys.executable)  # not resolved: a venv's python is a symlink
        if not sys.executable or not os.access(python, os.X_OK):
            raise ServiceError(f"cannot find the running Python interpreter ({python!r})")
        sibling = os.path.join(os.path.dirname(python), "wzp")
        wzp = sibling if os.access(sibling, os.X_OK) else None
        notes: list[str] = []
        if graceful_timeout is None:
            graceful_timeout, note = _configured_graceful_timeout()
            if note:
                notes.append(note)
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = os.environ.get("USER", str(uid))
        return cls(
            platform=detect_platform(platform),
            python=python,
            wzp=wzp,
            path=capture_path(os.environ.get("PATH", ""), os.path.dirname(python)),
            uid=uid,
            user=user,
            home=Path.home(),
            graceful_timeout=graceful_timeout,
            notes=tuple(notes),
        )

    def daemon_argv(self) -> list[str]:
        """The daemon in the foreground, as the service's main process."""
        return [self.python, "-m", "wzp_supervisor", "daemon"]

    def reload_argv(self) -> list[str]:
        """A reload that returns once the daemon has applied (or rejected) the config."""
        base = [self.wzp] if self.wzp else [self.python, "-m", "wzp_supervisor"]
        return [*base, "reload", "--wait"]


def capture_path(path: str, first: str | None = None) -> str:
    """PATH for the service: the absolute entries of ``path`` in order, without duplicates,
    with ``first`` (the interpreter's directory) put in front when it is missing."""
    entries: list[str] = []
    for entry in path.split(os.pathsep):
        if entry and os.path.isabs(entry) and entry not in entries:
            entries.append(entry)
    if first and first not in entries:
        entries.insert(0, first)
    return os.pathsep.join(entries)


def _configured_graceful_timeout() -> tuple[float, str | None]:
    try:
        from wzp_supervisor.config import load_config

        return float(load_config().processes.timeout), None
    except Exception as exc:  # a missing module or a broken config must not block install
        return DEFAULT_GRACEFUL_TIMEOUT, (
            f"could not read the config ({exc}); assuming a {DEFAULT_GRACEFUL_TIMEOUT:g}s "
            "graceful stop timeout for the agents"
        )


def systemd_unit_path() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user/wezterm-parallel.service``."""
    return paths.config_dir().parent / "systemd" / "user" / SYSTEMD_UNIT


def env_file_path() -> Path:
    """The unit's ``EnvironmentFile``: ``<config dir>/service.env``."""
    return paths.config_dir() / "service.env"


def launchd_plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def launchd_log_dir(home: Path) -> Path:
    return home / "Library" / "Logs" / "wezterm-parallel"


def manifest_path() -> Path:
    """Where install records what it did, for uninstall."""
    return paths.state_dir() / "service-manifest.json"


def backup_dir() -> Path:
    """Where ``--force`` keeps the files it replaced (uninstall puts them back)."""
    return paths.state_dir() / "service-backup"


def planned_files(setup: Setup) -> list[tuple[Path, bytes]]:
    """The files an install writes, with their exact content."""
    if setup.platform == "linux":
        env_file = env_file_path()
        unit = systemd.render(
            exec_start=setup.daemon_argv(),
            exec_reload=setup.reload_argv(),
            environment_file=env_file,
            graceful_timeout=setup.graceful_timeout,
        )
        env = systemd.render_env_file({"PATH": setup.path})
        return [(systemd_unit_path(), unit.encode()), (env_file, env.encode())]
    plist = launchd.render(
        program_arguments=setup.daemon_argv(),
        environment={"PATH": setup.path, "PYTHONUNBUFFERED": "1"},
        log_dir=launchd_log_dir(setup.home),
        graceful_timeout=setup.graceful_timeout,
    )
    return [(launchd_plist_path(setup.home), plist)]


def is_managed_content(path: Path, data: bytes) -> bool:
    """True when ``data`` (the current content of ``path``) was written by this tool."""
    if path.suffix == ".plist":
        try:
            job = plistlib.loads(data)
        except Exception:
            return False
        return isinstance(job, dict) and launchd.is_managed(job)
    return systemd.is_managed(data.decode("utf-8", "replace"))


# --------------------------------------------------------------------------- the runner


@dataclass
class Runner:
    """Performs (or, with ``dry_run``, only prints) every file change and command."""

    dry_run: bool = False
    out: Callable[[str], None] = print
    err: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))

    def say(self, text: str) -> None:
        self.out(text)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        capture: bool = False,
        echo: bool = True,
    ) -> subprocess.CompletedProcess[str] | None:
        """Run a command (None in a dry run); output is captured or goes to the terminal.

        With ``check`` a non-zero exit raises :class:`ServiceError`. ``echo`` announces an
        uncaptured command on ``out`` before running it.
        """
        line = shlex.join(argv)
        if self.dry_run:
            self.out(f"would run: {line}")
            return None
        if echo and not capture:
            self.out(f"running: {line}")
        try:
            result = subprocess.run(list(argv), check=False, capture_output=capture, text=True)
        except FileNotFoundError as exc:
            raise ServiceError(f"{argv[0]} not found on PATH: cannot run `{line}`") from exc
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip() if capture else ""
            raise ServiceError(
                f"`{line}` failed with exit status {result.returncode}"
                + (f": {detail}" if detail else "")
            )
        return result

    def write(self, path: Path, data: bytes, *, show: bool = True) -> None:
        """Write ``data`` to ``path`` atomically (temp file + rename), mode 0644."""
        if self.dry_run:
            if show:
                self.out(f"would write {path}:")
                text = data.decode("utf-8", "replace")
                self.out("".join(f"    {line}\n" for line in text.splitlines()).rstrip("\n"))
            else:
                self.out(f"would write {path}")
            return
        atomic_write(path, data, mode=0o644)
        if show:
            self.out(f"wrote {path}")

    def remove(self, path: Path) -> None:
        if self.dry_run:
            self.out(f"would remove {path}")
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.out(f"removed {path}")

    def move(self, src: Path, dst: Path) -> None:
        if self.dry_run:
            self.out(f"would move {src} to {dst}")
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        self.out(f"moved {src} to {dst}")

    def mkdir(self, path: Path) -> None:
        if path.is_dir():
            return
        if self.dry_run:
            self.out(f"would create directory {path}")
            return
        path.mkdir(parents=True, exist_ok=True)
        self.out(f"created directory {path}")


# --------------------------------------------------------------------------- manifest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest() -> dict[str, Any] | None:
    """The recorded installation, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(manifest_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == 1 else None


def _save_manifest(runner: Runner, manifest: dict[str, Any]) -> None:
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    runner.write(manifest_path(), data, show=False)


# --------------------------------------------------------------------------- install


def install(setup: Setup, runner: Runner, *, now: bool = False, force: bool = False) -> None:
    """Write the unit (or plist) and register it with the service manager.

    Idempotent: files whose content is already right are not rewritten. A file at a target
    path that this tool did not write is left alone unless ``force``, in which case it is
    moved to :func:`backup_dir` first. With ``now`` the service is also started (restarted
    when its unit changed). Raises :class:`ServiceError`.
    """
    for note in setup.notes:
        runner.err(f"note: {note}")
    previous = load_manifest() or {}
    prior_files = {f["path"]: f for f in previous.get("files", []) if isinstance(f, dict)}
    plan: list[tuple[Path, bytes, str]] = []
    refused: list[Path] = []
    for path, content in planned_files(setup):
        try:
            current: bytes | None = path.read_bytes()
        except FileNotFoundError:
            current = None
        if current == content:
            action = "unchanged"
        elif current is None:
            action = "create"
        elif is_managed_content(path, current):
            action = "update"
        elif force:
            action = "replace"
        else:
            refused.append(path)
            continue
        plan.append((path, content, action))
    if refused:
        raise ServiceError(
            "refusing to overwrite "
            + ", ".join(str(p) for p in refused)
            + ": not written by `wzp service install` (use --force to replace it; the old file"
            " is kept and put back by `wzp service uninstall`)"
        )

    files: list[dict[str, Any]] = []
    changed = False
    for path, content, action in plan:
        backup = prior_files.get(str(path), {}).get("backup")
        if action == "replace":
            backup = str(backup_dir() / path.name)
            runner.move(path, Path(backup))
        if action != "unchanged":
            changed = True
            runner.write(path, content)
        files.append({"path": str(path), "sha256": _sha256(content), "backup": backup})
    if not changed:
        runner.say("already installed: " + ", ".join(str(p) for p, _, _ in plan))

    manifest: dict[str, Any] = {
        "version": 1,
        "platform": setup.platform,
        "wzp_version": __version__,
        "files": files,
        "enabled": bool(previous.get("enabled")),
        "loaded": bool(previous.get("loaded")),
    }
    if changed and not runner.dry_run:
        # Recorded before any command runs, so a failing command leaves files to uninstall.
        _save_manifest(runner, manifest)
    if setup.platform == "linux":
        _systemd_register(setup, runner, now=now, changed=changed)
        manifest["enabled"] = True
    else:
        loaded = _launchd_register(setup, runner, now=now, changed=changed)
        manifest["loaded"] = manifest["loaded"] or loaded
    _save_manifest(runner, manifest)


def _systemd_register(setup: Setup, runner: Runner, *, now: bool, changed: bool) -> None:
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
    linger = runner.run(
        ["loginctl", "show-user", setup.user, "--property=Linger"], check=False, capture=True
    )
    enable_linger = f"loginctl enable-linger {shlex.quote(setup.user)}"
    if linger is None:
        runner.say(
            f"(dry run) if lingering is off for {setup.user}, the agents stop at logout; "
            f"`{enable_linger}` keeps them running and starts them at boot"
        )
    elif linger.stdout.strip() != "Linger=yes":
        runner.say(
            "note: without lingering the service stops when you log out and starts only at "
            f"login; to keep agents running without a login session, run: {enable_linger}"
        )


def _launchd_register(setup: Setup, runner: Runner, *, now: bool, changed: bool) -> bool:
    """Bootstrap (with ``now``); True when the job is known to be loaded afterwards."""
    runner.mkdir(launchd_log_dir(setup.home))
    plist = launchd_plist_path(setup.home)
    domain = f"gui/{setup.uid}"
    service = f"{domain}/{LAUNCHD_LABEL}"
    if not now:
        runner.say(
            f"launchd loads {plist.name} at your next login; to start it now run: "
            "wzp service install --now"
        )
        return False
    if changed:
        # Unload an older version, if any (it fails harmlessly when nothing is loaded).
        runner.run(["launchctl", "bootout", service], check=False, capture=True)
        loaded = False
    else:
        probe = runner.run(["launchctl", "print", service], check=False, capture=True)
        loaded = probe is not None and probe.returncode == 0
    if not loaded:
        runner.run(["launchctl", "bootstrap", domain, str(plist)])
    runner.run(["launchctl", "kickstart", service])
    return True


# --------------------------------------------------------------------------- uninstall


def uninstall(setup: Setup, runner: Runner) -> bool:
    """Reverse what install recorded; False when nothing was installed.

    Without a manifest (state dir wiped), files at the target paths that carry this tool's
    mark are still removed. Files changed since install but still marked are removed too;
    unmarked ones are left in place with a warning. Log files are kept.
    """
    manifest = load_manifest()
    if manifest is None:
        found = []
        for path, _ in planned_files(setup):
            with contextlib.suppress(OSError):
                if is_managed_content(path, path.read_bytes()):
                    found.append({"path": str(path), "backup": None})
        if not found:
            runner.say("not installed: nothing to remove")
            return False
        manifest = {"files": found, "enabled": True, "loaded": True}
    if setup.platform == "linux":
        if manifest.get("enabled"):
            runner.run(["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT], check=False)
    elif manifest.get("loaded") or any(
        str(f.get("path", "")).endswith(".plist") for f in manifest.get("files", [])
    ):
        runner.run(
            ["launchctl", "bootout", f"gui/{setup.uid}/{LAUNCHD_LABEL}"], check=False, capture=True
        )
    for entry in manifest.get("files", []):
        path = Path(entry["path"])
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        if current is not None and not is_managed_content(path, current):
            runner.err(f"warning: {path} was not written by wzp; leaving it in place")
            continue
        if current is not None:
            runner.remove(path)
        backup = entry.get("backup")
        if backup and Path(backup).exists():
            runner.move(Path(backup), path)
    if setup.platform == "linux":
        runner.run(["systemctl", "--user", "daemon-reload"])
    else:
        runner.say(f"logs kept in {launchd_log_dir(setup.home)}")
    if manifest_path().exists():
        runner.remove(manifest_path())
    return True


# --------------------------------------------------------------------------- status and logs


def status(setup: Setup, runner: Runner) -> int:
    """Show the service manager's view; 0 running, 3 not running, 1 other trouble."""
    manifest = load_manifest()
    if manifest is None:
        runner.err("wzp service install has not been run (no manifest)")
    if setup.platform == "linux":
        result = runner.run(
            ["systemctl", "--user", "status", "--no-pager", SYSTEMD_UNIT], check=False, echo=False
        )
        code = 0 if result is None else result.returncode
        return code if code in (0, 3) else 1
    result = runner.run(
        ["launchctl", "print", f"gui/{setup.uid}/{LAUNCHD_LABEL}"], check=False, echo=False
    )
    if result is not None and result.returncode != 0:
        runner.err(f"{LAUNCHD_LABEL} is not loaded")
        return 3
    return 0


def logs(setup: Setup, runner: Runner, *, follow: bool = False, lines: int = 100) -> int:
    """Print the service's recent output (``follow`` keeps printing); returns an exit code."""
    runner.err(f"(the daemon's own structured log is {paths.daemon_log()})")
    if setup.platform == "linux":
        argv = ["journalctl", "--user", "-u", SYSTEMD_UNIT, "-n", str(lines), "--no-pager"]
        result = runner.run([*argv, *(["-f"] if follow else [])], check=False, echo=False)
    else:
        log_dir = launchd_log_dir(setup.home)
        files = [str(log_dir / name) for name in ("daemon.out.log", "daemon.err.log")]
        if not runner.dry_run and not any(os.path.exists(f) for f in files):
            runner.err(f"no service logs yet in {log_dir}")
            return 1
        argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), *files]
        result = runner.run(argv, check=False, echo=False)
    return 0 if result is None or result.returncode == 0 else 1

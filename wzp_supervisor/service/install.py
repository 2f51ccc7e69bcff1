"""Install, uninstall and inspect the user service (the actions behind ``wzp service``).

The files come from the pure renderers (:mod:`.systemd`, :mod:`.launchd`); every side effect
goes through a :class:`~wzp_supervisor.service.runner.Runner` (``--dry-run`` prints instead);
what an install did is recorded in the :mod:`.manifest`, and the service manager is driven by a
:mod:`.registration`.
"""

from __future__ import annotations

import contextlib
import plistlib
from pathlib import Path

from wzp_supervisor import __version__, paths
from wzp_supervisor.service import ServiceError, launchd, systemd
from wzp_supervisor.service.manifest import (
    FileRecord,
    Manifest,
    load_manifest,
    save_manifest,
    sha256,
)
from wzp_supervisor.service.platform import (
    DEFAULT_GRACEFUL_TIMEOUT,
    Platform,
    Setup,
    backup_dir,
    detect_platform,
    env_file_path,
    launchd_log_dir,
    launchd_plist_path,
    manifest_path,
    systemd_unit_path,
)
from wzp_supervisor.service.registration import registration_for
from wzp_supervisor.service.runner import Runner

# Re-exported: the CLI imports the whole surface of ``wzp service`` from here.
__all__ = [
    "DEFAULT_GRACEFUL_TIMEOUT",
    "Platform",
    "Runner",
    "ServiceError",
    "Setup",
    "detect_platform",
    "install",
    "is_managed_content",
    "logs",
    "manifest_path",
    "planned_files",
    "status",
    "uninstall",
]


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


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def install(setup: Setup, runner: Runner, *, now: bool = False, force: bool = False) -> None:
    """Write the unit (or plist) and register it with the service manager.

    Idempotent: files whose content is already right are not rewritten. A file at a target
    path that this tool did not write is left alone unless ``force``, in which case it is
    moved to :func:`backup_dir` first. With ``now`` the service is also started (restarted
    when its unit changed). Raises :class:`ServiceError`.
    """
    for note in setup.notes:
        runner.err(f"note: {note}")
    previous: Manifest = load_manifest() or {}
    prior_files = {f.get("path"): f for f in previous.get("files", [])}
    plan: list[tuple[Path, bytes, str]] = []
    refused: list[Path] = []
    for path, content in planned_files(setup):
        current = _read(path)
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

    files: list[FileRecord] = []
    changed = False
    for path, content, action in plan:
        backup = prior_files.get(str(path), {}).get("backup")
        if action == "replace":
            backup = str(backup_dir() / path.name)
            runner.move(path, Path(backup))
        if action != "unchanged":
            changed = True
            runner.write(path, content)
        files.append({"path": str(path), "sha256": sha256(content), "backup": backup})
    if not changed:
        runner.say("already installed: " + ", ".join(str(p) for p, _, _ in plan))

    manifest: Manifest = {
        "version": 1,
        "platform": setup.platform,
        "wzp_version": __version__,
        "files": files,
        "enabled": bool(previous.get("enabled")),
        "loaded": bool(previous.get("loaded")),
    }
    if changed and not runner.dry_run:
        # Recorded before any command runs, so a failing command leaves files to uninstall.
        save_manifest(runner, manifest)
    registration_for(setup, runner).register(manifest, now=now, changed=changed)
    save_manifest(runner, manifest)


def uninstall(setup: Setup, runner: Runner) -> bool:
    """Reverse what install recorded; False when nothing was installed.

    Without a manifest (state dir wiped), files at the target paths that carry this tool's
    mark are still removed. Files changed since install but still marked are removed too;
    unmarked ones are left in place with a warning. Log files are kept.
    """
    manifest = load_manifest()
    if manifest is None:
        found: list[FileRecord] = []
        for path, _ in planned_files(setup):
            with contextlib.suppress(OSError):
                if is_managed_content(path, path.read_bytes()):
                    found.append({"path": str(path), "backup": None})
        if not found:
            runner.say("not installed: nothing to remove")
            return False
        manifest = {"files": found, "enabled": True, "loaded": True}
    registration = registration_for(setup, runner)
    registration.unregister(manifest)
    for entry in manifest.get("files", []):
        path = Path(entry["path"])
        current = _read(path)
        if current is not None and not is_managed_content(path, current):
            runner.err(f"warning: {path} was not written by wzp; leaving it in place")
            continue
        if current is not None:
            runner.remove(path)
        backup = entry.get("backup")
        if backup and Path(backup).exists():
            runner.move(Path(backup), path)
    registration.after_removal()
    if manifest_path().exists():
        runner.remove(manifest_path())
    return True


def status(setup: Setup, runner: Runner) -> int:
    """Show the service manager's view; 0 running, 3 not running, 1 other trouble."""
    if load_manifest() is None:
        runner.err("wzp service install has not been run (no manifest)")
    return registration_for(setup, runner).status()


def logs(setup: Setup, runner: Runner, *, follow: bool = False, lines: int = 100) -> int:
    """Print the service's recent output (``follow`` keeps printing); returns an exit code."""
    runner.err(f"(the daemon's own structured log is {paths.daemon_log()})")
    return registration_for(setup, runner).logs(follow=follow, lines=lines)

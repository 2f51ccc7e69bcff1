"""A real systemd user manager for a test, in its own cgroup subtree and mount namespace.

A user manager started from the root cgroup would create ``init.scope`` there and move every
process of the machine into it. So the manager's launcher first moves itself into a fresh
subtree (one cgroup per mounted hierarchy, beside nothing else), then runs
``unshare -m --propagation private`` and, inside, mounts a tmpfs on ``/run/systemd`` with a
``system`` directory (what makes systemd believe it was booted) before it execs
``systemd --user``. Everything the manager starts stays in that subtree; teardown kills it all
and removes the subtree. When any step is impossible here the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SYSTEMD = next(
    (p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd") if os.access(p, os.X_OK)),
    None,
)

LAUNCH = (
    "mount -t tmpfs -o mode=0755 tmpfs /run/systemd && mkdir -p /run/systemd/system && "
    'exec "$0" --user --log-target=console --log-level=notice'
)


def _hierarchies() -> list[tuple[Path, str]]:
    """(mount point, this process's path in it) for each cgroup hierarchy mounted here."""
    ours: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _num, controllers, path = line.split(":", 2)
        ours[controllers] = path
    found: list[tuple[Path, str]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, options = [*right.split(), "", "", ""][:3]
        mount_root, mount_point = left.split()[3], left.split()[4]
        if fstype == "cgroup2":
            key = ""
        elif fstype == "cgroup":
            opts = options.split(",")
            names = [o for o in opts if o.startswith("name=")]
            key = ",".join(sorted(o for o in opts if o not in ("rw", "ro") and "=" not in o))
            key = names[0] if names else key
        else:
            continue
        path = next(
            (p for c, p in ours.items() if c == key or set(c.split(",")) == set(key.split(","))),
            None,
        )
        if path is None or not path.startswith(mount_root):
            continue
        relative = path[len(mount_root) :].lstrip("/")
        found.append((Path(mount_point) / relative, fstype))
    return found


@dataclass
class UserManager:
    """A running user manager: the environment to reach it with ``systemctl --user``."""

    root: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    cgroups: list[Path] = field(default_factory=list)

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["systemctl", "--user", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"systemctl --user {' '.join(args)}: {result.stderr}")
        return result

    @property
    def unit_dir(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "systemd" / "user"

    def pids(self) -> set[int]:
        """Every process in the manager's subtree."""
        found: set[int] = set()
        for cgroup in self.cgroups:
            for procs in cgroup.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    found.update(int(p) for p in procs.read_text().split())
        return found


def _make_subtree(name: str) -> list[Path]:
    made: list[Path] = []
    try:
        for base, fstype in _hierarchies():
            child = base / name
            child.mkdir()
            made.append(child)
            if fstype == "cgroup" and (base / "cpuset.cpus").exists():
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    (child / knob).write_text((base / knob).read_text())
    except OSError as exc:
        _remove_subtree(made)
        pytest.skip(f"cannot create a cgroup subtree for a user manager here: {exc}")
    return made


def _remove_subtree(cgroups: list[Path]) -> None:
    for top in cgroups:
        for _ in range(50):
            pids = set()
            for procs in top.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in procs.read_text().split())
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for d in [*dirs, top]:
                with contextlib.suppress(OSError):
                    d.rmdir()
            if not top.exists():
                break
            time.sleep(0.1)


@contextlib.contextmanager
def user_manager(root: Path) -> Iterator[UserManager]:
    """Start ``systemd --user`` as described above; skip the test where it cannot run."""
    if SYSTEMD is None or shutil.which("unshare") is None or shutil.which("systemctl") is None:
        pytest.skip("systemd, unshare or systemctl is not installed")
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup subtree and a mount namespace needs root here")
    runtime = root / "run"
    runtime.mkdir(mode=0o700, parents=True)
    (root / "home").mkdir()
    (root / "config" / "systemd" / "user").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_STATE_HOME": str(root / "state"),
        "LANG": "C.UTF-8",
        "SYSTEMD_LOG_COLOR": "0",
    }
    cgroups = _make_subtree(f"wzp-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    def enter_subtree() -> None:
        for cgroup in cgroups:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    process: subprocess.Popen[bytes] | None = None
    try:
        with (root / "manager.log").open("wb") as log:
            process = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", LAUNCH, SYSTEMD],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=enter_subtree,
                start_new_session=True,
            )
        manager = UserManager(root=root, env=env, process=process, cgroups=cgroups)
        deadline = time.monotonic() + 60
        while not (runtime / "systemd" / "private").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip(
                    "systemd --user does not run here: "
                    + (root / "manager.log").read_text(errors="replace")[-1000:]
                )
            time.sleep(0.05)
        while manager.systemctl("is-system-running", check=False).stdout.strip() in (
            "initializing",
            "starting",
            "",
        ):
            if time.monotonic() > deadline:
                pytest.skip("systemd --user did not finish starting")
            time.sleep(0.1)
        yield manager
    finally:
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            if process.poll() is None:
                process.kill()
                process.wait()
        _remove_subtree(cgroups)

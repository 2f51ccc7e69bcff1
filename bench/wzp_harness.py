"""Shared harness of the adoption and trust benchmarks: a daemon in a sandbox of temp XDG dirs.

A ``Sandbox`` owns a temp root (config, state and runtime dirs under it), runs ``wzp`` with
its environment, speaks to its hub, finds every process that belongs to it (by the root's
path in the command line or the working directory), and ends all of them on ``close``.
Nothing here asserts; the benchmarks print what they measure.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from bench_env import isolated_env

from wzp_supervisor.cli.hub_client import DaemonNotRunning, HubClient, RequestFailed

PY = sys.executable
BIN = Path(PY).parent
SLEEP_CODE = "import time; time.sleep(1e6)"
POSITIONS = ("top_left", "top_right", "bottom_left", "bottom_right")
HOLDER_MODULE = "wzp_supervisor.session.holder"

__all__ = [
    "BIN",
    "PY",
    "DaemonNotRunning",
    "RequestFailed",
    "Sandbox",
    "grid_template",
    "install_exit_handlers",
    "progress",
    "raise_nofile",
    "sleeper",
]


def raise_nofile(wanted: int = 8192) -> int:
    """Raise this process's soft open-files limit towards ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def install_exit_handlers(deadline: int) -> None:
    """SIGTERM/SIGHUP, and ``deadline`` seconds passing (SIGALRM), end the benchmark through
    its ``finally`` blocks (every sandbox is cleaned up); SIGUSR1 prints where it is."""
    import faulthandler

    def leave(signum: int, _frame: object) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        if signum == signal.SIGALRM:
            print(f"deadline of {deadline} s reached: stopping", file=sys.stderr, flush=True)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, leave)
    signal.alarm(deadline)
    faulthandler.register(signal.SIGUSR1, all_threads=True)


_T0 = time.monotonic()


def progress(message: str) -> None:
    """A timestamped progress line on stderr (the figures go to stdout)."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def sleeper() -> list[str]:
    """A cheap agent: a Python process that sleeps."""
    return [PY, "-c", SLEEP_CODE]


def grid_template(command: list[str] | str, **pane_options: Any) -> dict[str, Any]:
    """A four-pane template whose panes all run ``command`` (with ``pane_options``)."""
    panes = [
        {"name": f"p{i}", "position": pos, "command": command, **pane_options}
        for i, pos in enumerate(POSITIONS)
    ]
    return {"layout": "four_pane_grid", "panes": panes}


class Sandbox:
    """One isolated wzp installation: temp XDG dirs, its daemon, its processes."""

    def __init__(
        self,
        prefix: str,
        templates: dict[str, Any],
        *,
        max_workspaces: int = 8,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        os.chmod(self.root, 0o711)  # others may traverse it, as they may /run/user
        self.work = self.root / "work"
        self.work.mkdir()
        self.runtime = self.root / "r"
        self.runtime.mkdir(mode=0o700)
        self.env = isolated_env(self.root)
        config: dict[str, Any] = {
            "framework": {"max_workspaces": max_workspaces},
            "workspaces": {"templates": templates},
        }
        for key, value in (extra or {}).items():
            config.setdefault(key, {}).update(value)
        self.config_dir.mkdir(parents=True)
        # JSON is YAML: the config is written as JSON so no YAML library is needed here.
        (self.config_dir / "config.yaml").write_text(json.dumps(config, indent=1))

    # -- locations ------------------------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        return self.root / "c" / "wezterm-parallel"

    @property
    def state_dir(self) -> Path:
        return self.root / "s" / "wezterm-parallel"

    @property
    def app_runtime(self) -> Path:
        return self.runtime / "wezterm-parallel"

    @property
    def hub_path(self) -> Path:
        return self.app_runtime / "hub.sock"

    # -- talking to it --------------------------------------------------------------------

    def wzp(
        self, *args: str, timeout: float = 120.0, wrap: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run ``wzp ARGS`` (behind the ``wrap`` command, e.g. prlimit) in the sandbox; never
        raises on a non-zero exit."""
        try:
            return subprocess.run(
                [*wrap, str(BIN / "wzp"), *args],
                env=self.env,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout,
                errors="replace",
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, -1, "", f"timed out after {timeout}s")

    def hub(self, kind: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """One request on a fresh hub connection (raises RequestFailed / DaemonNotRunning)."""
        with HubClient(self.hub_path, timeout=timeout) as client:
            return client.request(kind, **fields)

    def ping(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """The ping reply, or None when no daemon answers."""
        try:
            return self.hub("ping", timeout=timeout)
        except (DaemonNotRunning, RequestFailed, OSError, ConnectionError, ValueError):
            return None

    def status(self) -> list[dict[str, Any]]:
        """Every supervised process as the daemon lists it ([] when it does not answer)."""
        try:
            return list(self.hub("status", timeout=30.0)["processes"])
        except (DaemonNotRunning, RequestFailed, OSError, ConnectionError, ValueError):
            return []

    def running_pids(self) -> dict[str, int]:
        """``{target: holder pid}`` of the processes the daemon lists as running."""
        return {p["target"]: p["pid"] for p in self.status() if p["state"] == "running"}

    def daemon_pid(self) -> int | None:
        try:
            return int((self.app_runtime / "daemon.pid").read_text())
        except (OSError, ValueError):
            return None

    def create_workspaces(self, count: int, template: str = "t", prefix: str = "w") -> float:
        """Create ``count`` workspaces over the hub; seconds it took."""
        start = time.perf_counter()
        with HubClient(self.hub_path, timeout=120.0) as client:
            for i in range(count):
                client.request(
                    "workspace.create", name=f"{prefix}{i}", template=template, dir=str(self.work)
                )
        return time.perf_counter() - start

    def wait_running(self, n: int, timeout: float = 120.0, poll: float = 0.02) -> float | None:
        """Seconds until ``n`` processes are running, or None at the timeout."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if len(self.running_pids()) >= n:
                return time.perf_counter() - start
            time.sleep(poll)
        return None

    def wait_agents(self, n: int, timeout: float = 30.0) -> dict[str, list[int]]:
        """Wait until ``n`` processes run and each holder has started its program; the
        agents' pids by target (what there is at the timeout)."""
        deadline = time.monotonic() + timeout
        agents: dict[str, list[int]] = {}
        while time.monotonic() < deadline:
            agents = self.agents_of(self.running_pids())
            if len(agents) >= n and all(agents.values()):
                break
            time.sleep(0.05)
        return agents

    # -- its processes --------------------------------------------------------------------

    def processes(self) -> list[psutil.Process]:
        """Every live process of this sandbox except ourselves (zombies excluded)."""
        marker = str(self.root)
        found = []
        me = os.getpid()
        for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
            info = proc.info
            if info["pid"] == me or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(info.get("cmdline") or [])
            cwd = info.get("cwd") or ""
            if (
                marker + "/" in cmdline
                or cwd == marker
                or cwd.startswith(marker + "/")
                or _env_under(proc, marker)
            ):
                found.append(proc)
        return found

    def holders(self) -> list[psutil.Process]:
        """The live session holders of this sandbox."""
        return [p for p in self.processes() if HOLDER_MODULE in " ".join(_cmdline(p)) and _alive(p)]

    def holder_sockets(self) -> dict[str, tuple[int, Path]]:
        """``{target: (holder pid, socket path)}`` read from the live holders' command lines."""
        out: dict[str, tuple[int, Path]] = {}
        for proc in self.holders():
            args = _cmdline(proc)
            with contextlib.suppress(ValueError, IndexError):
                target = args[args.index("--target") + 1]
                out[target] = (proc.pid, Path(args[args.index("--socket") + 1]))
        return out

    def agent_processes(self) -> dict[str, list[psutil.Process]]:
        """Live processes by the ``WZP_AGENT`` they run as (agents and their children)."""
        out: dict[str, list[psutil.Process]] = {}
        for proc in self.processes():
            try:
                agent = proc.environ().get("WZP_AGENT")
                if agent and HOLDER_MODULE not in " ".join(proc.cmdline()):
                    out.setdefault(agent, []).append(proc)
            except psutil.Error:
                continue
        return out

    def agents_of(self, holder_pids: dict[str, int]) -> dict[str, list[int]]:
        """``{target: pids of the holder's live child processes}``."""
        out: dict[str, list[int]] = {}
        for target, pid in holder_pids.items():
            try:
                out[target] = sorted(
                    c.pid
                    for c in psutil.Process(pid).children(recursive=True)
                    if c.status() != psutil.STATUS_ZOMBIE
                )
            except psutil.Error:
                out[target] = []
        return out

    def kill_daemon(self) -> int | None:
        """SIGKILL the daemon and wait until it is gone; its pid."""
        pid = self.daemon_pid()
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=10)
        return pid

    def close(self, down_timeout: float = 60.0) -> list[str]:
        """``wzp down``, then end every process of the sandbox still alive; remove the
        root. Returns a description of each process that survived ``down`` (0 is right)."""
        survivors: list[str] = []
        if self.ping() is not None:
            self.wzp("down", "--timeout", str(down_timeout), timeout=down_timeout + 30)
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                survivors.append(f"{proc.pid} {' '.join(_cmdline(proc))[:80]}")
                proc.kill()
        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        return survivors

    @contextlib.contextmanager
    def running(self) -> Iterator[Sandbox]:
        """``wzp up`` on entry, ``close`` on exit."""
        try:
            up = self.wzp("up")
            if up.returncode != 0:
                raise RuntimeError(f"wzp up failed: {up.stderr.strip()}")
            yield self
        finally:
            self.close()


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _env_under(proc: psutil.Process, marker: str) -> bool:
    """Whether the process's XDG_RUNTIME_DIR is inside the sandbox (the daemon, agents)."""
    try:
        env = proc.environ()
    except psutil.Error:
        return False
    return any(
        env.get(k, "").startswith(marker + "/") for k in ("XDG_RUNTIME_DIR", "WZP_HUB_SOCKET")
    )


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _unmount_under(root: Path) -> None:
    """Lazily unmount anything mounted below ``root`` (the full-disk scenario's tmpfs)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    for line in mounts:
        fields = line.split()
        if len(fields) > 1 and fields[1].startswith(str(root) + "/"):
            subprocess.run(["umount", "-l", fields[1]], capture_output=True, check=False)

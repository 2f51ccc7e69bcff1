"""Shared fixtures: isolated XDG dirs, running `wzp`, and a real daemon per test.

Temp dirs are short paths under /tmp because Unix socket paths are limited to ~100 bytes.
Every process a test starts is found by its runtime dir and killed at teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:  # imported by pytest as a plugin first (assert rewriting)
    from tests.model_stub import ModelStub

REPO = Path(__file__).resolve().parent.parent

# the loopback model stub's `model_stub` fixture, for every test module
pytest_plugins = ["tests.model_stub"]


def pytest_configure(config: pytest.Config) -> None:
    """Let ctrl+c reach the processes tests start: a run started in the background of a
    non-interactive shell (``bash .ci/run &``) inherits SIGINT ignored, and so would every
    process it starts; a handled signal is reset to the default in a child at exec."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class WzpEnv:
    """An isolated set of XDG dirs and the environment to run `wzp` in them."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "wezterm-parallel"

    @property
    def state_dir(self) -> Path:
        return Path(self.env["XDG_STATE_HOME"]) / "wezterm-parallel"

    @property
    def runtime_dir(self) -> Path:
        return Path(self.env["XDG_RUNTIME_DIR"]) / "wezterm-parallel"

    @property
    def work(self) -> Path:
        path = self.root / "work"
        path.mkdir(exist_ok=True)
        return path

    def write_config(self, text: str) -> Path:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        path = self.config_dir / "config.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def wzp(
        self,
        *args: str,
        timeout: float = 60,
        input: str | None = None,
        check: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `wzp ARGS` as a separate process in this environment."""
        env = {**self.env, **(extra_env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "wzp_supervisor", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"wzp {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def status(self) -> dict[str, Any]:
        result = self.wzp("status", "--json", check=True)
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def process(self, target: str) -> dict[str, Any]:
        for proc in self.status()["processes"]:
            if proc["target"] == target:
                return dict(proc)
        raise AssertionError(f"{target} not in status")

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30, what: str = "condition"
    ) -> Any:
        """Poll ``predicate`` until truthy; fails the test with ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except (AssertionError, KeyError, json.JSONDecodeError) as exc:
                last_exc = exc
            time.sleep(0.05)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}"
            + (f" (last error: {last_exc})" if last_exc else "")
        )

    def daemon_pid(self) -> int | None:
        pid_file = self.runtime_dir / "daemon.pid"
        try:
            return int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def our_processes(self) -> list[psutil.Process]:
        """Every live process started for this environment (by runtime dir in env or argv)."""
        marker = self.env["XDG_RUNTIME_DIR"]
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if proc.pid == os.getpid():
                continue
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
                if marker in cmdline or proc.environ().get("XDG_RUNTIME_DIR") == marker:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def cleanup(self) -> None:
        if self.daemon_pid() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wzp("down", "--timeout", "20", timeout=30)
        for proc in self.our_processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def make_env(extra: dict[str, str] | None = None) -> WzpEnv:
    root = Path(tempfile.mkdtemp(prefix="wzp", dir="/tmp"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "WZP_", "CLAUDE", "ANTHROPIC"))
    }
    env.update(
        {
            "XDG_CONFIG_HOME": str(root / "c"),
            "XDG_STATE_HOME": str(root / "s"),
            "XDG_RUNTIME_DIR": str(root / "r"),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )
    (root / "r").mkdir(mode=0o700)
    env.update(extra or {})
    return WzpEnv(root, env)


@pytest.fixture
def wzp_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[WzpEnv]:
    """Isolated XDG dirs, also applied to this test process (for in-process code)."""
    env = make_env()
    for key in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(key, env.env[key])
    monkeypatch.delenv("WZP_HUB_SOCKET", raising=False)
    try:
        yield env
    finally:
        env.cleanup()


SLEEPER = f"{sys.executable} -c 'import time; time.sleep(10000)'"


@pytest.fixture
def daemon(wzp_env: WzpEnv) -> WzpEnv:
    """A running daemon (via `wzp up`) in isolated dirs; the test writes its config first
    with ``wzp_env.write_config`` or gets the built-in one."""
    if not (wzp_env.config_dir / "config.yaml").exists():
        wzp_env.write_config("framework:\n  max_workspaces: 8\n")
    wzp_env.wzp("up", check=True)
    return wzp_env


@pytest.fixture
def stub() -> Iterator[ModelStub]:
    """A loopback model stub for one test (the real Claude CLI talks to it)."""
    from tests.model_stub import ModelStub

    with ModelStub() as model:
        yield model

"""Benchmark: N trivial tasks through a pool of warm headless workers vs one `claude -p` per task.

Everything talks to the loopback model stub (tests/model_stub.py) with the real Claude Code
CLI (``$WZP_CLAUDE_BIN`` or ``.tools/claude``) in a temp ``HOME``; nothing reaches the network.

1. Anchor: the script a user would write instead, one ``claude -p PROMPT`` process per task,
   one at a time, and K at a time (like ``xargs -P K``).
2. Raw warm processes: K ``claude -p --input-format stream-json`` processes kept running, each
   fed its share of prompts on stdin (no daemon: the ceiling a pool can reach).
3. The pool: a daemon in temp XDG dirs with ``pools.bench {min: K, max: K}``; once K workers
   are idle, N tasks are submitted (``task.submit {pool}``) and waited for; then N more
   through ``wzp task map --pool bench`` (a CLI process, results as JSON lines).

K is 1, 2, 4 and 8 while the run stays within ``--budget`` seconds. Prints tasks/second and the
ratio to the one-at-a-time anchor; asserts nothing. When the daemon does not serve pools
(``pool.list``), the pool part says it was skipped and the rest still runs.
Usage: ``python bench/bench_pool.py [--tasks N] [--workers 1,2,4,8] [--budget 300]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_env import isolated_env

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.claude_env import (  # noqa: E402
    claude_binary,
    claude_environment,
    seed_claude_home,
)
from tests.model_stub import ModelStub  # noqa: E402
from wzp_supervisor.stream_json import STREAM_FLAGS, user_line  # noqa: E402

PY = sys.executable
POOL = "bench"


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def report(label: str, n: int, seconds: float, anchor: float | None, failed: int = 0) -> float:
    tps = rate(n, seconds)
    ratio = f"   x{tps / anchor:5.2f} vs one-at-a-time claude -p" if anchor else ""
    bad = f"   ({failed} failed)" if failed else ""
    print(f"  {label:<44} {seconds:7.2f} s   {tps:6.2f} tasks/s{ratio}{bad}", flush=True)
    return tps


class Setup:
    """The stub, a seeded Claude home, a working dir and the environment to run the CLI in."""

    def __init__(self, stub: ModelStub, root: Path) -> None:
        self.root = root
        self.cwd = root / "w"
        self.cwd.mkdir()
        self.home = root / "h"
        seed_claude_home(self.home, self.cwd)
        self.claude = str(claude_binary())
        self.env = claude_environment(self.home, stub.url)


def one_process(setup: Setup, prompt: str) -> bool:
    done = subprocess.run(
        [setup.claude, "-p", prompt],
        cwd=setup.cwd,
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode == 0 and "stub reply" in done.stdout


def per_task(setup: Setup, n: int, parallel: int) -> tuple[float, int]:
    """Seconds for ``n`` prompts as one ``claude -p`` process each, ``parallel`` at a time."""
    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        ok = list(pool.map(lambda i: one_process(setup, f"task {i}"), range(n)))
    return time.monotonic() - started, ok.count(False)


def raw_warm(setup: Setup, n: int, workers: int) -> tuple[float, int]:
    """Seconds for ``n`` prompts over ``workers`` already-running stream-json processes."""
    argv = [setup.claude, *STREAM_FLAGS]
    procs = [
        subprocess.Popen(
            argv,
            cwd=setup.cwd,
            env=setup.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]

    def turn(proc: subprocess.Popen[bytes], prompt: str) -> bool:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(user_line(prompt, "default"))
        proc.stdin.flush()
        for raw in proc.stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(raw)
                if message.get("type") == "result":
                    return not message.get("is_error")
        return False

    def run(index: int) -> int:
        proc = procs[index]
        return sum(not turn(proc, f"task {i}") for i in range(index, n, workers))

    try:
        with ThreadPoolExecutor(workers) as pool:  # warm: one turn each, not timed
            list(pool.map(lambda i: turn(procs[i], "warm up"), range(workers)))
        started = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            failed = sum(pool.map(run, range(workers)))
        return time.monotonic() - started, failed
    finally:
        for proc in procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Daemon:
    """A wzp daemon in temp XDG dirs whose pool ``bench`` runs the CLI against the stub."""

    def __init__(self, setup: Setup, workers: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wzpp", dir="/tmp"))
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "WZP_"))}
        keep = {k: v for k, v in keep.items() if not k.startswith(("CLAUDE", "ANTHROPIC"))}
        path = os.pathsep.join([setup.env["PATH"], os.environ.get("PATH", "")])
        self.env = isolated_env(self.root, {**keep, **setup.env, "PATH": path})
        config = self.root / "c" / "wezterm-parallel"
        config.mkdir(parents=True)
        pool = {
            "command": [setup.claude],
            "min": workers,
            "max": workers,
            "cwd": str(setup.cwd),
            "environment": {k: v for k, v in setup.env.items() if k != "PATH"},
        }
        (config / "config.yaml").write_text(json.dumps({"pools": {POOL: pool}}))

    def wzp(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PY, "-m", "wzp_supervisor", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        from wzp_supervisor.cli.hub_client import HubClient

        socket = Path(self.env["XDG_RUNTIME_DIR"]) / "wezterm-parallel" / "hub.sock"
        with HubClient(path=socket, timeout=None) as client:
            return client.request(kind, **fields)

    def start(self, workers: int) -> str | None:
        """Start and wait for ``workers`` idle workers; the reason when pools are unusable."""
        up = self.wzp("up")
        if up.returncode != 0:
            return f"`wzp up` with a pools config failed: {(up.stderr or up.stdout).strip()}"
        deadline = time.monotonic() + 120
        from wzp_supervisor.cli.hub_client import RequestFailed

        while time.monotonic() < deadline:
            try:
                pools = self.request("pool.list")["pools"]
            except RequestFailed as exc:
                return f"the daemon does not serve pool.list ({exc.message})"
            ours = [p for p in pools if p["name"] == POOL]
            if not ours:
                return f"the daemon did not load pools.{POOL} from the config"
            idle = [w for w in ours[0]["workers"] if w["state"] == "idle"]
            if len(idle) >= workers:
                self.run(workers, "warm up")  # one turn each, not timed (like raw_warm)
                return None
            time.sleep(0.2)
        return f"{workers} workers were not idle within 120 s"

    def run(self, n: int, prompt: str = "task") -> tuple[float, int]:
        """Seconds for ``n`` tasks submitted to the pool at once and waited for."""
        from wzp_supervisor.cli.hub_client import HubClient

        socket = Path(self.env["XDG_RUNTIME_DIR"]) / "wezterm-parallel" / "hub.sock"
        failed = 0
        started = time.monotonic()
        with HubClient(path=socket, timeout=None) as client:
            ids = [
                client.request("task.submit", prompt=f"{prompt} {i}", pool=POOL)["task"]["id"]
                for i in range(n)
            ]
            for task_id in ids:
                while True:
                    answer = client.request("task.wait", task=task_id)
                    if answer["done"]:
                        break
                task = answer["task"]
                result = task.get("result") or {}
                if task["state"] != "done" or result.get("is_error"):
                    failed += 1
        return time.monotonic() - started, failed

    def run_map(self, n: int) -> tuple[float, int]:
        """Seconds for ``wzp task map --pool`` over ``n`` prompts (a CLI process included)."""
        prompts = self.root / "prompts.txt"
        prompts.write_text("".join(f"map task {i}\n" for i in range(n)))
        started = time.monotonic()
        done = self.wzp("task", "map", "--pool", POOL, str(prompts), timeout=600)
        seconds = time.monotonic() - started
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        return seconds, n - sum(1 for line in lines if line["state"] == "done")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wzp("down", "--timeout", "20", timeout=40)
        shutil.rmtree(self.root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the whole run")
    args = parser.parse_args()
    sizes = [int(k) for k in args.workers.split(",")]
    n = args.tasks
    begun = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="wzpb", dir="/tmp"))
    try:
        with ModelStub() as stub:
            setup = Setup(stub, root)
            print(f"{n} trivial tasks, Claude Code CLI {setup.claude}, loopback model stub")
            print("one `claude -p` process per task:")
            seconds, failed = per_task(setup, n, 1)
            anchor = report("one at a time", n, seconds, None, failed)
            for k in sizes[1:]:
                if time.monotonic() - begun > args.budget / 3:
                    print(f"  {k} at a time: skipped (over a third of the budget)")
                    continue
                seconds, failed = per_task(setup, n, k)
                report(f"{k} at a time (xargs -P {k})", n, seconds, anchor, failed)
            print("warm stream-json processes, no daemon (the ceiling for a pool):")
            for k in sizes:
                if time.monotonic() - begun > args.budget / 2:
                    print(f"  {k} processes: skipped (over half the budget)")
                    continue
                seconds, failed = raw_warm(setup, n, k)
                report(f"{k} warm process{'es' if k > 1 else ''}", n, seconds, anchor, failed)
            print(f"the pool (wzp daemon, pools.{POOL}, warm workers):")
            for k in sizes:
                if time.monotonic() - begun > args.budget:
                    print(f"  pool of {k}: skipped (over the {args.budget:g} s budget)")
                    continue
                daemon = Daemon(setup, k)
                try:
                    reason = daemon.start(k)
                    if reason is not None:
                        print(f"  POOL PART SKIPPED: {reason}")
                        break
                    seconds, failed = daemon.run(n)
                    label = f"pool of {k} warm worker{'s' if k > 1 else ''}"
                    report(label, n, seconds, anchor, failed)
                    seconds, failed = daemon.run_map(n)
                    report("  the same through `wzp task map`", n, seconds, anchor, failed)
                finally:
                    daemon.stop()
            if stub.unknown:
                print(f"(the stub had no answer for: {sorted(set(stub.unknown))})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"total {time.monotonic() - begun:.0f} s")


if __name__ == "__main__":
    main()

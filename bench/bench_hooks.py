"""Hook latency and hub round trips, against a real daemon.

Runs a daemon in temp XDG dirs with N agents (default 100: 25 workspaces of 4 panes; each
agent is a sleeping shell marked ``agent: claude`` so hooks apply to it) and measures:

1. hook fired → state applied: ``python -m wzp_supervisor hook EVENT`` as a process (what
   Claude Code runs), from spawn to exit (it exits after the hub's reply, so the new state is
   in place), p50/p99; and the same followed by ``wzp status --json`` showing the new state
   (two interpreter starts), p50/p99.
2. in-process hub round trip with N agents: a HubClient in this process sending
   ``status.update`` (alternating busy/idle over all agents), ``ping`` and ``status`` (the
   full listing of N decorated processes), p50/p99.

Prints figures; asserts nothing. Usage: ``python bench/bench_hooks.py [--agents N]
[--samples N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_env import isolated_env

PY = sys.executable
POSITIONS = ("top_left", "top_right", "bottom_left", "bottom_right")


def config(agents: int) -> str:
    panes = "".join(
        f"""
        - name: a{i + 1}
          position: {POSITIONS[i]}
          command: ["/bin/sh", "-c", "exec sleep 1000000", "agent"]
          agent: claude"""
        for i in range(4)
    )
    workspaces = (agents + 3) // 4
    return f"""
framework:
  max_workspaces: {workspaces + 1}
processes:
  claude_code:
    max_instances: {agents + 4}
workspaces:
  default_template: bench
  templates:
    bench:
      layout: four_pane_grid
      auto_start: true
      panes:{panes}
"""


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   (n={len(ordered)})"


class Bench:
    """A daemon in temp XDG dirs and helpers to talk to it."""

    def __init__(self, agents: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wzpb", dir="/tmp"))
        env = isolated_env(self.root)
        self.env = env
        os.environ.update({k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")})
        os.environ["XDG_RUNTIME_DIR"] = env["XDG_RUNTIME_DIR"]
        cfg = self.root / "c" / "wezterm-parallel" / "config.yaml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(config(agents))
        self.agents = agents

    def wzp(
        self,
        *args: str,
        extra: dict[str, str] | None = None,
        stdin: str = "",
        prefix: list[str] | None = None,
    ) -> str:
        done = subprocess.run(
            [*(prefix or [PY, "-m", "wzp_supervisor"]), *args],
            env={**self.env, **(extra or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout

    def start(self) -> list[str]:
        self.wzp("up")
        work = self.root / "work"
        work.mkdir()
        targets: list[str] = []
        for w in range((self.agents + 3) // 4):
            self.wzp("workspace", "create", f"w{w}", "--dir", str(work))
            targets += [f"w{w}/a{i + 1}" for i in range(4)]
        targets = targets[: self.agents]
        from wzp_supervisor.cli.hub_client import HubClient

        deadline = time.monotonic() + 300
        with HubClient(timeout=30) as client:
            while time.monotonic() < deadline:
                procs = client.request("status")["processes"]
                if sum(p["state"] == "running" for p in procs) >= len(targets):
                    break
                time.sleep(0.2)
        return targets

    def stop(self) -> None:
        """``wzp down``; processes that outlive it are reported (logs kept) and killed."""
        import psutil

        with contextlib.suppress(Exception):
            self.wzp("down", "--timeout", "120")
        marker = str(self.root)
        left = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if marker in " ".join(proc.info["cmdline"] or []):
                left.append(proc)
        if left:
            print(f"warning: {len(left)} processes outlived `wzp down`; logs kept in {marker}")
            for proc in left:
                print(f"  pid {proc.pid}: {' '.join(proc.info['cmdline'])[:160]}")
                with contextlib.suppress(psutil.NoSuchProcess):
                    for child in proc.children(recursive=True):
                        child.kill()
                    proc.kill()
            return
        shutil.rmtree(self.root, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def bench_interpreter(samples: int) -> None:
    """The floor: a bare interpreter start on this machine right now."""
    runs = [timed(lambda: subprocess.run([PY, "-c", "pass"], check=True)) for _ in range(samples)]
    print(f"baseline `python -c pass`:                   {percentiles(runs)}")


def bench_hook(
    bench: Bench, target: str, samples: int, socket_env: bool = False, fast: bool = False
) -> None:
    payload = json.dumps({"session_id": "00000000-0000-4000-8000-000000000000"})
    extra = {"WZP_AGENT": target}
    if socket_env:  # the hook then skips importing paths (tempfile, hashlib, pathlib)
        extra["WZP_HUB_SOCKET"] = str(
            Path(bench.env["XDG_RUNTIME_DIR"]) / "wezterm-parallel/hub.sock"
        )
    label = " [WZP_HUB_SOCKET set]" if socket_env else ""
    prefix = None
    if fast:  # exactly what Claude agents run (agents.claude.hooks_settings)
        from wzp_supervisor.agents.claude import fast_hook_prefix

        prefix = fast_hook_prefix()
        label += " [agents' hook command: python -S]"
    hook_only: list[float] = []
    visible: list[float] = []
    for i in range(samples):
        event, expected = ("UserPromptSubmit", "busy") if i % 2 == 0 else ("Stop", "idle")
        start = time.perf_counter()
        bench.wzp("hook", event, extra=extra, stdin=payload, prefix=prefix)
        hook_only.append((time.perf_counter() - start) * 1000)
        status = json.loads(bench.wzp("status", "--json", target))
        state = status["processes"][0]["agent_state"]
        visible.append((time.perf_counter() - start) * 1000)
        if state != expected:
            print(f"  warning: sample {i}: {state} shown, {expected} expected")
    print(f"hook process (spawn → state applied){label}: {percentiles(hook_only)}")
    print(f"hook process + `wzp status --json` shows it{label}: {percentiles(visible)}")


def bench_hub(targets: list[str], samples: int) -> None:
    from wzp_supervisor.cli.hub_client import HubClient

    with HubClient(timeout=30) as client:
        updates: list[float] = []
        for i in range(samples * 5):
            target = targets[i % len(targets)]
            event = "UserPromptSubmit" if (i // len(targets)) % 2 == 0 else "Stop"
            start = time.perf_counter()
            client.request("status.update", agent=target, event=event)
            updates.append((time.perf_counter() - start) * 1000)
        pings = [timed(lambda: client.request("ping")) for _ in range(samples * 5)]
        statuses = [timed(lambda: client.request("status")) for _ in range(samples)]
    print(f"hub status.update round trip:                {percentiles(updates)}")
    print(f"hub ping round trip:                         {percentiles(pings)}")
    print(f"hub status ({len(targets)} processes) round trip:      {percentiles(statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    bench = Bench(args.agents)
    try:
        started = time.perf_counter()
        targets = bench.start()
        print(f"{len(targets)} agents running after {time.perf_counter() - started:.1f} s")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
        bench_hub(targets, args.samples)
        bench_interpreter(args.samples)
        bench_hook(bench, targets[0], args.samples)
        bench_hook(bench, targets[1], args.samples, socket_env=True)
        bench_hook(bench, targets[2], args.samples, socket_env=True, fast=True)
    finally:
        bench.stop()


if __name__ == "__main__":
    main()

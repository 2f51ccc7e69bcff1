"""Observe benchmarks (sampler, status file, metrics). Prints figures measured in this run;
asserts nothing.

1. Sampler cpu per sample and as % of one core at 1 Hz, for 16 and 100 process trees of
   3 processes each (sh + 2 children), with the /proc reader and with plain psutil.
2. A real daemon with 100 supervised panes (25 workspaces x 4, each in its session holder):
   the daemon's whole idle cpu (sampler + status.json writes included) over 10 s.
3. status.json: build + encode + atomic write cost at 100 agents (real daemon data), size.
4. `wzp status` whole-process latency vs `circusctl status` against the same daemon.

Run: .venv/bin/python bench/bench_observe.py [--quick]
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_env import isolated_env

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PY = sys.executable
QUICK = "--quick" in sys.argv


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1. sampler ---------------------------------------------------------------------------


def start_trees(n: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(["sh", "-c", "sleep 10000 & sleep 10000 & wait"], start_new_session=True)
        for _ in range(n)
    ]


def stop_trees(trees: list[subprocess.Popen[bytes]]) -> None:
    for proc in trees:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench_sampler(n: int, use_proc: bool, samples: int) -> dict[str, float]:
    from wzp_supervisor.sampler import Sampler

    trees = start_trees(n)
    try:
        time.sleep(0.5)
        roots: dict[str, int | None] = {f"w/{i}": p.pid for i, p in enumerate(trees)}
        sampler = Sampler(use_proc=use_proc)
        sampler.sample(roots)  # first sample opens descriptors and discovers trees
        costs = []
        nprocs = 0
        for _ in range(samples):
            begin = time.thread_time()
            result = sampler.sample(roots)
            costs.append(time.thread_time() - begin)
            nprocs = sum(s.nprocs for s in result.values())
        sampler.close()
    finally:
        stop_trees(trees)
    mean = statistics.mean(costs)
    return {
        "mean_ms": mean * 1000,
        "p90_ms": pct(costs, 0.9) * 1000,
        "core_pct": mean * 100,
        "nprocs": nprocs,
    }


# -- 2-4. a real daemon -------------------------------------------------------------------


def make_env() -> tuple[Path, dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="wzpb", dir="/tmp"))
    env = isolated_env(root)
    cfg = root / "c" / "wezterm-parallel"
    cfg.mkdir(parents=True)
    sleep = json.dumps(["sleep", "10000"])
    panes = "".join(
        f"        - name: p{i + 1}\n          position: {pos}\n          command: {sleep}\n"
        for i, pos in enumerate(("top_left", "top_right", "bottom_left", "bottom_right"))
    )
    (cfg / "config.yaml").write_text(
        "framework:\n  max_workspaces: 30\nprocesses:\n  claude_code:\n    max_instances: 120\n"
        "workspaces:\n  default_template: t\n  templates:\n    t:\n      layout: four_pane_grid\n"
        f"      panes:\n{panes}"
    )
    return root, env


def wzp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "wzp_supervisor", *args], env=env, capture_output=True, text=True, timeout=300
    )


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        begin = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, timeout=60)
        out.append(time.perf_counter() - begin)
        if result.returncode != 0:
            raise RuntimeError(f"{argv} failed: {result.stderr.decode()[-500:]}")
    return out


def bench_daemon(agents: int) -> dict[str, Any]:
    import psutil

    root, env = make_env()
    figures: dict[str, Any] = {}
    try:
        if wzp(env, "up").returncode != 0:
            raise RuntimeError("wzp up failed")
        for key in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
            os.environ[key] = env[key]
        from wzp_supervisor.cli.hub_client import HubClient

        with HubClient(timeout=120) as client:
            for i in range(agents // 4):
                client.request("workspace.create", name=f"ws{i:02d}", dir=str(root))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                procs = client.request("status")["processes"]
                if all(p["state"] == "running" and p.get("rss", 0) > 0 for p in procs):
                    break
                time.sleep(0.5)
            pid = int(client.request("ping")["pid"])
            daemon = psutil.Process(pid)
            time.sleep(3)  # let start-up settle
            window = 5.0 if QUICK else 10.0
            before = daemon.cpu_times()
            begin = time.monotonic()
            time.sleep(window)
            after = daemon.cpu_times()
            elapsed = time.monotonic() - begin
            used = (after.user + after.system) - (before.user + before.system)
            figures["daemon_idle_core_pct"] = used / elapsed * 100
            figures["daemon_rss_mib"] = daemon.memory_info().rss / 2**20
            stats = client.request("stats")
            figures["sampler_last_ms"] = stats["sampler"]["last_cost_ms"]
            figures["tracked"] = stats["sampler"]["tracked"]
            status = client.request("status")
            workspaces = status["workspaces"]
        figures["status_bytes"] = (
            (Path(env["XDG_RUNTIME_DIR"]) / "wezterm-parallel" / "status.json").stat().st_size
        )
        figures.update(bench_status_write(status["processes"], workspaces, root))
        runs = 5 if QUICK else 15
        wzp_times = timed([PY, "-m", "wzp_supervisor", "status"], env, runs)
        endpoint = f"ipc://{Path(env['XDG_RUNTIME_DIR']) / 'wezterm-parallel' / 'circus.sock'}"
        circusctl = str(Path(PY).with_name("circusctl"))
        circus_times = timed([circusctl, "--endpoint", endpoint, "status"], env, runs)
        figures["wzp_status_ms"] = statistics.median(wzp_times) * 1000
        figures["wzp_status_p90_ms"] = pct(wzp_times, 0.9) * 1000
        figures["circusctl_status_ms"] = statistics.median(circus_times) * 1000
        figures["circusctl_status_p90_ms"] = pct(circus_times, 0.9) * 1000
    finally:
        wzp(env, "down", "--timeout", "60")
        shutil.rmtree(root, ignore_errors=True)
    return figures


def bench_status_write(
    processes: list[dict[str, Any]], workspaces: list[dict[str, Any]], root: Path
) -> dict[str, float]:
    from wzp_supervisor.status_file import (
        TransitionLog,
        build_status,
        encode_bounded,
        write_atomic,
    )

    log = TransitionLog()
    for i in range(20):
        log.observe(f"ws00/p{i}", "waiting_input", "permission")
    path = root / "bench-status.json"
    costs = []
    size = 0
    for _ in range(100 if QUICK else 300):
        begin = time.perf_counter()
        doc = build_status(
            processes=processes,
            workspaces=workspaces,
            daemon={"pid": 1, "version": "0.1.0", "uptime": 1.0},
            transitions=log.to_list(),
        )
        data = encode_bounded(doc)
        write_atomic(path, data)
        costs.append(time.perf_counter() - begin)
        size = len(data)
    return {
        "status_write_ms": statistics.median(costs) * 1000,
        "status_write_p90_ms": pct(costs, 0.9) * 1000,
        "status_write_core_pct_at_1hz": statistics.median(costs) * 100,
        "status_bench_bytes": size,
    }


def main() -> None:
    samples = 20 if QUICK else 60
    print(
        f"# bench_observe ({'quick' if QUICK else 'full'}) on {os.cpu_count()} cpus, "
        f"python {sys.version.split()[0]}"
    )
    for n in (16, 100):
        fast = bench_sampler(n, True, samples) if sys.platform.startswith("linux") else None
        slow = bench_sampler(n, False, samples)
        if fast:
            print(
                f"sampler /proc   {n:3d} trees ({fast['nprocs']:.0f} procs): "
                f"{fast['mean_ms']:.2f} ms/sample (p90 {fast['p90_ms']:.2f}) = "
                f"{fast['core_pct']:.2f}% of a core at 1 Hz"
            )
        print(
            f"sampler psutil  {n:3d} trees ({slow['nprocs']:.0f} procs): "
            f"{slow['mean_ms']:.2f} ms/sample (p90 {slow['p90_ms']:.2f}) = "
            f"{slow['core_pct']:.2f}% of a core at 1 Hz"
            + (f"  (/proc is {slow['mean_ms'] / fast['mean_ms']:.1f}x cheaper)" if fast else "")
        )
    figures = bench_daemon(100)
    print(
        f"daemon with 100 panes: idle cpu {figures['daemon_idle_core_pct']:.2f}% of a core "
        f"(sampler {figures['sampler_last_ms']:.2f} ms/s over {figures['tracked']} processes, "
        f"status.json every second), rss {figures['daemon_rss_mib']:.1f} MiB"
    )
    print(
        f"status.json at 100 agents: {figures['status_bytes']} bytes on disk; "
        f"build+encode+write {figures['status_write_ms']:.2f} ms median "
        f"(p90 {figures['status_write_p90_ms']:.2f}) = "
        f"{figures['status_write_core_pct_at_1hz']:.2f}% of a core at 1 Hz "
        f"({figures['status_bench_bytes']} bytes with 20 transitions)"
    )
    ratio = figures["wzp_status_ms"] / figures["circusctl_status_ms"]
    print(
        f"whole-process status at 100 agents: wzp status {figures['wzp_status_ms']:.0f} ms "
        f"(p90 {figures['wzp_status_p90_ms']:.0f}) vs circusctl status "
        f"{figures['circusctl_status_ms']:.0f} ms (p90 {figures['circusctl_status_p90_ms']:.0f})"
        f"; ratio {ratio:.2f}"
    )


if __name__ == "__main__":
    main()

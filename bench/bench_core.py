"""Supervisor core benchmarks (status latency, crash restart, idle CPU, memory), with
anchors measured in the same run.

1. `wzp status` whole-process latency vs `circusctl status` against the same daemon
   (target ≤ 0.6×).
2. crash → new pid: median and p95 at 16 and 100 processes (target median ≤ 100 ms), beside
   circusd alone with check_delay 1 s.
3. daemon idle CPU and RSS at 16 and 100 processes, beside circusd (check_delay 5 s) with the
   same commands (targets: CPU no higher, RSS ≤ 1.5×).

Prints figures only; it asserts nothing. Usage: python bench/bench_core.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
from bench_env import isolated_env

PY = sys.executable
BIN = Path(PY).parent
SLEEP = "import time; time.sleep(100000)"


def env_for(root: Path) -> dict[str, str]:
    return isolated_env(root)


def wzp_config(n: int) -> str:
    panes = "".join(
        f"        - name: p{i}\n          position: {pos}\n"
        f"          command: [{json.dumps(PY)}, '-c', {json.dumps(SLEEP)}]\n"
        # a process killed twice within min_uptime is a crash loop and rightly backs off;
        # the bench measures the restart-at-once path, so every death counts as a crash
        "          min_uptime: 0\n"
        for i, pos in enumerate(("top_left", "top_right", "bottom_left", "bottom_right"))
    )
    return (
        textwrap.dedent(f"""
    framework:
      max_workspaces: {n // 4 + 1}
    workspaces:
      templates:
        t:
          layout: four_pane_grid
          panes:
    """)
        + panes
    )


def run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run(cmd, env)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {result.stderr}")
    return times


def hub_status(env: dict[str, str]) -> list[dict[str, Any]]:
    from wzp_supervisor.cli.hub_client import HubClient

    with HubClient(Path(env["XDG_RUNTIME_DIR"]) / "wezterm-parallel" / "hub.sock") as client:
        return list(client.request("status")["processes"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def idle(pid: int, seconds: float) -> tuple[float, int]:
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    cpu = (after.user + after.system - before.user - before.system) / seconds * 100
    return cpu, proc.memory_info().rss


def bench_wzp(n: int, kills: int, status_runs: int, idle_s: float) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="wzpb", dir="/tmp"))
    env = env_for(root)
    (root / "c" / "wezterm-parallel").mkdir(parents=True)
    (root / "c" / "wezterm-parallel" / "config.yaml").write_text(wzp_config(n))
    wzp = [PY, "-m", "wzp_supervisor"]
    out: dict[str, Any] = {"n": n}
    try:
        run([*wzp, "up"], env).check_returncode()
        for w in range(n // 4):
            run(
                [*wzp, "workspace", "create", f"w{w}", "-t", "t", "--dir", str(root)], env
            ).check_returncode()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            procs = hub_status(env)
            if sum(p["state"] == "running" for p in procs) == n:
                break
            time.sleep(0.2)
        time.sleep(2)
        daemon_pid = int((root / "r" / "wezterm-parallel" / "daemon.pid").read_text())
        out["idle_cpu"], out["rss"] = idle(daemon_pid, idle_s)
        endpoint = f"ipc://{root / 'r' / 'wezterm-parallel' / 'circus.sock'}"
        out["wzp_status"] = timed([str(BIN / "wzp"), "status"], env, status_runs)
        out["circusctl_status"] = timed(
            [str(BIN / "circusctl"), "--endpoint", endpoint, "status"], env, status_runs
        )
        latencies = []
        for k in range(kills):
            procs = [p for p in hub_status(env) if p["state"] == "running"]
            victim = procs[k % len(procs)]
            os.kill(victim["pid"], signal.SIGKILL)
            start = time.perf_counter()
            while time.perf_counter() - start < 10:
                now = {p["target"]: p for p in hub_status(env)}[victim["target"]]
                if now["pid"] and now["pid"] != victim["pid"]:
                    latencies.append(time.perf_counter() - start)
                    break
                time.sleep(0.002)
            time.sleep(0.2)
        out["respawn"] = latencies
    finally:
        run([*wzp, "down"], env)
        shutil.rmtree(root, ignore_errors=True)
    return out


def circus_ini(n: int, check_delay: float, root: Path) -> Path:
    lines = [
        "[circus]",
        f"check_delay = {check_delay}",
        f"endpoint = ipc://{root}/ctl.sock",
        f"pubsub_endpoint = ipc://{root}/pub.sock",
        "statsd = false",
        "",
    ]
    for i in range(n):
        lines += [f"[watcher:w{i}]", f"cmd = {PY}", f"args = -c '{SLEEP}'", "numprocesses = 1", ""]
    path = root / "circus.ini"
    path.write_text("\n".join(lines))
    return path


def bench_circusd(n: int, check_delay: float, kills: int, idle_s: float) -> dict[str, Any]:
    from circus.client import CircusClient

    root = Path(tempfile.mkdtemp(prefix="wzpc", dir="/tmp"))
    ini = circus_ini(n, check_delay, root)
    daemon = subprocess.Popen(
        [str(BIN / "circusd"), str(ini)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = CircusClient(endpoint=f"ipc://{root}/ctl.sock", timeout=10)
    out: dict[str, Any] = {"n": n, "check_delay": check_delay}
    try:

        def pids(name: str) -> list[int]:
            reply = client.call({"command": "list", "properties": {"name": name}})
            return list(reply.get("pids", []))

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if all(pids(f"w{i}") for i in (0, n - 1)):
                    break
            except Exception:
                pass
            time.sleep(0.2)
        time.sleep(2)
        out["idle_cpu"], out["rss"] = idle(daemon.pid, idle_s)
        latencies = []
        for k in range(kills):
            name = f"w{k % n}"
            old = pids(name)[0]
            os.kill(old, signal.SIGKILL)
            start = time.perf_counter()
            while time.perf_counter() - start < 15:
                now = pids(name)
                if now and now[0] != old:
                    latencies.append(time.perf_counter() - start)
                    break
                time.sleep(0.005)
        out["respawn"] = latencies
    finally:
        client.stop()
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        for proc in psutil.process_iter(["cmdline"]):
            if SLEEP in " ".join(proc.info["cmdline"] or []):
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)
    return out


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values) * 1000:.1f} ms, p95 {pct(values, 0.95) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    args = parser.parse_args()
    kills, runs, idle_s = (5, 3, 2.0) if args.quick else (20, 10, 10.0)
    print(
        f"# bench_core  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
        f"load {os.getloadavg()[0]:.2f}"
    )
    for n in (16, 100):
        ours = bench_wzp(n, kills, runs, idle_s)
        fast = bench_circusd(n, 1.0, kills, 1.0)
        slow = bench_circusd(n, 5.0, 0, idle_s)
        w, c = statistics.median(ours["wzp_status"]), statistics.median(ours["circusctl_status"])
        print(f"\n## {n} processes")
        print(f"wzp status        {w * 1000:7.1f} ms (median of {runs})")
        print(
            f"circusctl status  {c * 1000:7.1f} ms   ratio wzp/circusctl = {w / c:.2f} "
            "(target <= 0.6)"
        )
        print(f"crash -> new pid  wzp: {ms(ours['respawn'])}  (target median <= 100 ms)")
        print(f"                  circusd check_delay 1 s: {ms(fast['respawn'])}")
        print(
            f"idle CPU          wzp daemon {ours['idle_cpu']:.2f} %   circusd (5 s) "
            f"{slow['idle_cpu']:.2f} %"
        )
        print(
            f"RSS               wzp daemon {ours['rss'] / 2**20:.1f} MiB   circusd "
            f"{slow['rss'] / 2**20:.1f} MiB   ratio {ours['rss'] / slow['rss']:.2f} "
            "(target <= 1.5)"
        )


if __name__ == "__main__":
    main()

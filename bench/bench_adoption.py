"""Adoption benchmark: how long until every agent is adopted after a daemon crash or restart.

For N supervised panes (cheap sleepers, N = 16 and 100 by default), measured in one run:

* cold start (anchor): ``wzp up`` + create N/4 four-pane workspaces over the hub, until all
  N run (every holder and agent spawned fresh);
* crash: SIGKILL the daemon with N running, then ``wzp up`` until the hub lists all N
  running with the SAME holder pids (adopted), checked again with ``wzp status --json``,
  with the agents' pids, restart counts and uptimes unchanged, no extra holder process
  (no duplicates), and up to 16 attach clients still connected;
* restart in place: ``daemon.restart`` over the hub, until ping answers from the same daemon
  pid with a fresh uptime and all N run with unchanged pids;
* plain circusd (anchor): start with N watchers of the same command until all N children run;
* ``wzp ping`` as a whole process (anchor): the CLI's own floor, part of every ``wzp up``.

Prints figures and ratios; asserts nothing. Usage:
``.venv/bin/python bench/bench_adoption.py [--sizes 16,100] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from wzp_harness import (
    BIN,
    PY,
    SLEEP_CODE,
    Sandbox,
    grid_template,
    install_exit_handlers,
    progress,
    raise_nofile,
)

from wzp_supervisor.session import wire

TIMEOUT = 120.0


class Run:
    """Figures of one size."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.cold: list[float] = []
        self.cold_up: list[float] = []
        self.crash_up: list[float] = []
        self.crash_adopted: list[float] = []
        self.restart: list[float] = []
        self.circusd: list[float] = []
        self.cli_ping: list[float] = []
        self.attached = 0
        self.problems: list[str] = []


def snapshot(sb: Sandbox) -> tuple[dict[str, int], dict[str, list[int]], int]:
    """Holder pids by target, agent pids by target, number of live holder processes."""
    holders = sb.running_pids()
    return holders, sb.agents_of(holders), len(sb.holders())


def compare(
    sb: Sandbox, before: tuple[dict[str, int], dict[str, list[int]], int], what: str
) -> list[str]:
    """What differs from ``before`` (pids, agents, holder count, the CLI's view)."""
    problems = []
    holders, agents, count = snapshot(sb)
    if holders != before[0]:
        changed = sum(1 for t, p in before[0].items() if holders.get(t) != p)
        problems.append(f"{what}: {changed} of {len(before[0])} holder pids changed")
    if agents != before[1]:
        changed = sum(1 for t, p in before[1].items() if agents.get(t) != p)
        problems.append(f"{what}: {changed} agents have other pids")
    if count != before[2]:
        problems.append(f"{what}: {count} holder processes, {before[2]} before (duplicates?)")
    cli = sb.wzp("status", "--json")
    try:
        listed = json.loads(cli.stdout)
        procs = listed["processes"] if isinstance(listed, dict) else listed
        shown = {p["target"]: p["pid"] for p in procs if p.get("state") == "running"}
    except (ValueError, KeyError, TypeError):
        shown = {}
        problems.append(f"{what}: wzp status --json unreadable (rc {cli.returncode})")
    if shown and shown != before[0]:
        problems.append(f"{what}: wzp status --json shows {len(shown)} running, other pids")
    return problems


def record(sb: Sandbox) -> tuple[float, dict[str, tuple[int, float]]]:
    """When, and each target's (restarts, uptime) as the daemon lists it."""
    procs = sb.status()
    return time.monotonic(), {p["target"]: (p["restarts"], p["uptime"] or 0.0) for p in procs}


def continuity(
    sb: Sandbox, before: tuple[float, dict[str, tuple[int, float]]], what: str
) -> list[str]:
    """Adopted processes keep their restart counts and their true uptimes."""
    taken, old = before
    _now, new = record(sb)
    elapsed = time.monotonic() - taken
    reset = [t for t, (r, _u) in old.items() if new.get(t, (None, 0.0))[0] != r]
    younger = [t for t, (_r, u) in old.items() if new.get(t, (0, 0.0))[1] < u + elapsed - 2.0]
    problems = []
    if reset:
        problems.append(f"{what}: {len(reset)} restart counts changed")
    if younger:
        problems.append(f"{what}: {len(younger)} uptimes restarted from 0")
    return problems


def attach_all(sb: Sandbox, limit: int = 16) -> list[socket.socket]:
    """Attach a raw client to up to ``limit`` holders (as `wzp attach` does) and read its
    first frame (the redraw)."""
    conns = []
    for _target, (_pid, path) in sorted(sb.holder_sockets().items())[:limit]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(str(path))
            sock.sendall(
                wire.encode_json(wire.Frame.HELLO, {"mode": "attach", "cols": 80, "rows": 24})
            )
            sock.recv(65536)
            sock.setblocking(False)  # still_attached polls without waiting
            conns.append(sock)
        except OSError:
            sock.close()
    return conns


def still_attached(conns: list[socket.socket]) -> int:
    """How many attach connections the holders kept open (no EOF, no error)."""
    alive = 0
    for sock in conns:
        try:
            while True:  # drain output; EOF means the holder dropped us
                data = sock.recv(65536)
                if not data:
                    break
        except BlockingIOError:  # nothing to read: still connected
            alive += 1
        except OSError:
            pass
    return alive


def wait_adopted(sb: Sandbox, pids: dict[str, int], start: float) -> float | None:
    """Seconds from ``start`` until the hub lists exactly ``pids`` as running."""
    while time.perf_counter() - start < TIMEOUT:
        if sb.running_pids() == pids:
            return time.perf_counter() - start
        time.sleep(0.01)
    return None


def adopted_after(
    sb: Sandbox,
    before: tuple[dict[str, int], dict[str, list[int]], int],
    counts: tuple[float, dict[str, tuple[int, float]]],
    attached: list[socket.socket],
    start: float,
    what: str,
    problems: list[str],
) -> float | None:
    """Seconds from ``start`` until the same processes run again (None: they did not);
    what differs from ``before`` is added to ``problems``."""
    took = wait_adopted(sb, before[0], start)
    if took is None:
        problems.append(f"{what}: the same {len(before[0])} pids not running after {TIMEOUT:g}s")
        problems += compare(sb, before, what)
        return None
    problems += compare(sb, before, what)
    problems += continuity(sb, counts, what)
    kept = still_attached(attached)
    if kept != len(attached):
        problems.append(f"{what}: {len(attached) - kept} attach clients dropped")
    return took


def bench_wzp(n: int, runs: int, out: Run) -> None:
    sb = Sandbox(
        "wzpadopt", {"t": grid_template(f"{PY} -c '{SLEEP_CODE}'")}, max_workspaces=n // 4 + 1
    )
    try:
        start = time.perf_counter()
        up = sb.wzp("up")
        out.cold_up.append(time.perf_counter() - start)
        if up.returncode != 0:
            out.problems.append(f"wzp up failed: {up.stderr.strip()}")
            return
        progress(f"{n}: cold up done, creating")
        sb.create_workspaces(n // 4)
        if sb.wait_running(n, TIMEOUT, poll=0.01) is None:
            out.problems.append(f"cold: not all {n} running after {TIMEOUT:g}s")
            return
        out.cold.append(time.perf_counter() - start)
        for _ in range(3):  # the CLI's own floor: interpreter start-up, imports, one request
            start = time.perf_counter()
            sb.wzp("ping")
            out.cli_ping.append(time.perf_counter() - start)
        sb.wait_agents(n, TIMEOUT)  # every holder has started its program
        time.sleep(1.0)  # let the first save and the sampler settle
        before = snapshot(sb)
        counts = record(sb)
        attached = attach_all(sb)
        for i in range(runs):
            progress(f"{n}: crash {i}")
            sb.kill_daemon()
            alive = sum(1 for p in before[0].values() if psutil.pid_exists(p))
            if alive != n:
                out.problems.append(f"crash: only {alive} of {n} holders outlived the daemon")
            start = time.perf_counter()
            up = sb.wzp("up")
            out.crash_up.append(time.perf_counter() - start)
            if up.returncode != 0:
                out.problems.append(f"wzp up after SIGKILL failed: {up.stderr.strip()}")
                return
            took = adopted_after(sb, before, counts, attached, start, "crash", out.problems)
            if took is None:
                return
            out.crash_adopted.append(took)
        for i in range(runs):
            progress(f"{n}: restart {i}")
            first = sb.ping()
            if first is None:
                out.problems.append("restart: daemon not answering")
                return
            start = time.perf_counter()
            sb.hub("daemon.restart")
            fresh = None
            while time.perf_counter() - start < TIMEOUT:
                answer = sb.ping(timeout=1.0)
                if answer and answer["uptime"] < time.perf_counter() - start:
                    fresh = answer
                    break
                time.sleep(0.01)
            if fresh is None:
                out.problems.append("restart: no fresh daemon answered")
                return
            if fresh["pid"] != first["pid"]:
                out.problems.append(f"restart: daemon pid {first['pid']} -> {fresh['pid']}")
            progress(f"{n}: restart {i}: fresh daemon answers")
            took = adopted_after(sb, before, counts, attached, start, "restart", out.problems)
            if took is None:
                return
            out.restart.append(took)
        out.attached = len(attached)
        for sock in attached:
            sock.close()
    finally:
        progress(f"{n}: closing")
        left = sb.close()
        progress(f"{n}: closed")
        if left:
            out.problems.append(f"{len(left)} processes outlived wzp down: {left[:3]}")


def bench_circusd(n: int, out: Run) -> None:
    root = Path(tempfile.mkdtemp(prefix="wzpadoptc", dir="/tmp"))
    lines = [
        "[circus]",
        "check_delay = 5",
        f"endpoint = ipc://{root}/ctl.sock",
        f"pubsub_endpoint = ipc://{root}/pub.sock",
        "statsd = false",
        "",
    ]
    for i in range(n):
        lines += [f"[watcher:w{i}]", f"cmd = {PY}", f"args = -c '{SLEEP_CODE}'", ""]
    (root / "circus.ini").write_text("\n".join(lines))
    start = time.perf_counter()
    daemon = subprocess.Popen(
        [str(BIN / "circusd"), str(root / "circus.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=root,
    )
    try:
        proc = psutil.Process(daemon.pid)
        while time.perf_counter() - start < TIMEOUT:
            with_code = [c for c in proc.children() if SLEEP_CODE in " ".join(c.cmdline())]
            if len(with_code) >= n:
                out.circusd.append(time.perf_counter() - start)
                break
            time.sleep(0.01)
        else:
            out.problems.append("circusd: not all watchers running")
    except psutil.Error as exc:
        out.problems.append(f"circusd: {exc}")
    finally:
        children = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(daemon.pid).children(recursive=True)
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        shutil.rmtree(root, ignore_errors=True)


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    text = f"{statistics.median(values) * 1000:8.0f} ms"
    if len(values) > 1:
        text += f"  (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})"
    return text


def ratio(a: list[float], b: list[float]) -> str:
    if not a or not b:
        return "n/a"
    return f"{statistics.median(a) / statistics.median(b):.2f}"


def report(r: Run) -> None:
    print(f"\n## {r.n} agents")
    print("| measure | time |")
    print("|---|---|")
    print(f"| cold `wzp up` (daemon answers) | {ms(r.cold_up)} |")
    print(f"| cold `wzp up` + create {r.n} panes, all running | {ms(r.cold)} |")
    print(f"| plain circusd, {r.n} watchers running | {ms(r.circusd)} |")
    print(f"| `wzp ping` whole process (the CLI's floor) | {ms(r.cli_ping)} |")
    print(f"| SIGKILL daemon -> `wzp up` returns | {ms(r.crash_up)} |")
    print(
        f"| SIGKILL daemon -> `wzp up` -> all {r.n} adopted (same pids) | {ms(r.crash_adopted)} |"
    )
    print(f"| `daemon.restart` -> fresh daemon, all {r.n} adopted | {ms(r.restart)} |")
    print(
        f"ratios: adopt-after-crash / cold = {ratio(r.crash_adopted, r.cold)}, "
        f"restart / cold = {ratio(r.restart, r.cold)}, "
        f"adopt-after-crash / circusd start = {ratio(r.crash_adopted, r.circusd)}"
    )
    if r.problems:
        print("PROBLEMS:")
        for problem in r.problems:
            print(f"  - {problem}")
    else:
        print(
            "checks: every adoption kept all holder and agent pids, restart counts and "
            f"uptimes, {r.attached} attach clients connected throughout, no extra holder, "
            "nothing outlived `wzp down`"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="16,100", help="agent counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="crash and restart cycles per size")
    parser.add_argument(
        "--deadline", type=int, default=600, help="seconds before it stops (and cleans up)"
    )
    args = parser.parse_args()
    install_exit_handlers(args.deadline)
    limit = raise_nofile()
    print(
        f"# bench_adoption  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
        f"load {os.getloadavg()[0]:.2f}  ulimit -n {limit}  runs {args.runs}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        r = Run(n)
        bench_wzp(n, args.runs, r)
        bench_circusd(n, r)
        report(r)


if __name__ == "__main__":
    main()

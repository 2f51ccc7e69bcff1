"""Trust rows about processes and the daemon's life: random SIGKILLs under load, kills across
a daemon crash and restart, daemon SIGKILL at rest and during a reload, `wzp down` of
SIGTERM-ignoring trees, leaks under PID 1."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_common import (
    SLEEPER,
    Row,
    Sizes,
    close_checked,
    describe,
    dup_and_orphans,
    held,
    one_workspace,
    safe_cmdline,
    settled_status,
)
from wzp_harness import (
    PY,
    DaemonNotRunning,
    RequestFailed,
    Sandbox,
    grid_template,
)

from wzp_supervisor.cli.hub_client import HubClient

# -- 1. load -------------------------------------------------------------------------------


def row_load(sizes: Sizes) -> list[Row]:
    n, seconds = sizes.load_agents, sizes.load_seconds
    sb = Sandbox("wzptl", {"t": grid_template(SLEEPER)}, max_workspaces=n // 4 + 1)
    problems: list[str] = []
    kills = holder_kills = 0
    latencies: list[float] = [0.0]
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(n // 4)
        if sb.wait_running(n, 180) is None:
            raise RuntimeError(f"not all {n} running")
        daemon = sb.daemon_pid()
        base = sum(p["restarts"] for p in sb.status())
        rng = random.Random(16)
        start = time.monotonic()
        tick = start
        latencies = []
        while time.monotonic() - start < seconds:
            asked = time.perf_counter()
            listed = sb.status()
            latencies.append(time.perf_counter() - asked)
            running = [p for p in listed if p["state"] == "running" and p["pid"]]
            if running:
                victim = rng.choice(running)
                pid = victim["pid"]
                if kills % 2 == 0:  # alternately the agent and its holder
                    with contextlib.suppress(psutil.Error, IndexError):
                        pid = psutil.Process(pid).children()[0].pid
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    holder_kills += pid == victim["pid"]
                except ProcessLookupError:
                    pass
            tick += sizes.kill_interval
            time.sleep(max(0.0, tick - time.monotonic()))
        procs = settled_status(sb)
        restarts = sum(p["restarts"] for p in procs) - base
        fatal = sum(p["state"] == "fatal" for p in procs)
        unsettled = [p["target"] for p in procs if p["state"] not in ("running", "fatal")]
        dups, orphans = dup_and_orphans(sb)
        if sb.daemon_pid() != daemon or sb.ping() is None:
            problems.append("the daemon died or changed")
        if restarts + fatal != kills:
            problems.append(f"{kills} kills but {restarts} restarts + {fatal} fatal")
        if unsettled:
            problems.append(f"{len(unsettled)} not running 60 s later: {unsettled[:3]}")
        if dups:
            problems.append(f"duplicates {dups[:3]}")
        if orphans:
            problems.append(f"orphans {orphans[:3]}")
    finally:
        left = close_checked(sb, problems)
    figure = (
        f"{n} agents, SIGKILL every {sizes.kill_interval * 1000:.0f} ms for {seconds:g} s: "
        f"{kills} kills ({holder_kills} holders, {kills - holder_kills} agents) -> "
        f"{restarts} restarts, {fatal} fatal by policy, {len(dups)} duplicates, "
        f"{len(orphans)} orphans, {len(left)} left after down; hub `status` meanwhile "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    return [("load: random SIGKILLs", figure, held(problems))]


def row_churn_crash(_sizes: Sizes) -> list[Row]:
    """Kills continue while the daemon is SIGKILLed and brought back, then restarted in place."""
    n, seconds, interval = 32, 12.0, 0.2
    sb = Sandbox("wzptr", {"t": grid_template(SLEEPER)}, max_workspaces=n // 4 + 1)
    problems: list[str] = []
    kills = away_kills = 0
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(n // 4)
        if sb.wait_running(n, 120) is None:
            raise RuntimeError(f"not all {n} running")
        base = sum(p["restarts"] for p in sb.status())
        rng = random.Random(15)
        start = time.monotonic()
        tick = start
        crashed = restarted = False
        while time.monotonic() - start < seconds:
            elapsed = time.monotonic() - start
            if not crashed and elapsed > seconds / 4:
                crashed = True
                sb.kill_daemon()
                for _ in range(5):  # agents die while no daemon runs
                    holders = [h.pid for h in sb.holders()]
                    agents = [
                        a
                        for pids in sb.agents_of({str(h): h for h in holders}).values()
                        for a in pids[:1]
                    ]
                    if agents:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(rng.choice(agents), signal.SIGKILL)
                            kills += 1
                            away_kills += 1
                    time.sleep(interval)
                if sb.wzp("up").returncode != 0:
                    problems.append("wzp up failed after the crash")
                    break
            if not restarted and elapsed > seconds / 2:
                restarted = True
                with contextlib.suppress(RequestFailed, DaemonNotRunning, OSError):
                    sb.hub("daemon.restart")
            running = [p for p in sb.status() if p["state"] == "running" and p["pid"]]
            if running:
                victim = rng.choice(running)
                with contextlib.suppress(ProcessLookupError, psutil.Error, IndexError):
                    os.kill(psutil.Process(victim["pid"]).children()[0].pid, signal.SIGKILL)
                    kills += 1
            tick += interval
            time.sleep(max(0.0, tick - time.monotonic()))
        procs = settled_status(sb)
        restarts = sum(p["restarts"] for p in procs) - base
        fatal = sum(p["state"] == "fatal" for p in procs)
        running = sum(p["state"] == "running" for p in procs)
        dups, orphans = dup_and_orphans(sb)
        if restarts + fatal != kills:
            problems.append(f"{kills} kills but {restarts} restarts + {fatal} fatal")
        if running + fatal != n:
            problems.append(f"{running} running + {fatal} fatal of {n}")
        if len(sb.holders()) != running:
            problems.append(f"{len(sb.holders())} holders for {running} running")
        if dups or orphans:
            problems.append(f"duplicates {dups[:2]}, orphans {orphans[:2]}")
    finally:
        left = close_checked(sb, problems)
    figure = (
        f"{n} agents, an agent SIGKILL every {interval * 1000:.0f} ms for {seconds:g} s, the "
        f"daemon SIGKILLed at {seconds / 4:g} s ({away_kills} agents killed while it was away, "
        f"then `wzp up`) and `daemon.restart` at {seconds / 2:g} s: {kills} kills -> "
        f"{restarts} restarts, {fatal} fatal, {len(dups)} duplicates, {len(orphans)} orphans, "
        f"{len(left)} left after down"
    )
    return [("churn across a daemon crash and restart", figure, held(problems))]


# -- 2. daemon SIGKILL at rest -------------------------------------------------------------


def row_daemon_kill(_sizes: Sizes) -> list[Row]:
    sb = one_workspace("wzptk")
    problems: list[str] = []
    try:
        sb.create_workspaces(2)
        sb.wait_agents(8, 60)
        before = sb.running_pids()
        agents = sb.agents_of(before)
        restarts = {p["target"]: p["restarts"] for p in sb.status()}
        old_daemon = sb.kill_daemon()
        # one agent ends while no daemon runs: its policy must apply after `up`
        away = "w0/p0"
        with contextlib.suppress(ProcessLookupError, IndexError):
            os.kill(agents[away][0], signal.SIGKILL)
        time.sleep(0.3)
        start = time.perf_counter()
        up = sb.wzp("up")
        if up.returncode != 0:
            problems.append(f"wzp up failed: {up.stderr.strip()[:80]}")
        deadline = time.monotonic() + 30
        now: dict[str, int] = {}
        while time.monotonic() < deadline:
            now = sb.running_pids()
            if len(now) == 8 and now.get(away) not in (None, before[away]):
                break
            time.sleep(0.02)
        took = time.perf_counter() - start
        kept = sum(1 for t, p in before.items() if t != away and now.get(t) == p)
        agents_kept = sum(
            1 for t, a in sb.agents_of(now).items() if t != away and a == agents.get(t)
        )
        after = {p["target"]: p["restarts"] for p in sb.status()}
        dups, orphans = dup_and_orphans(sb)
        if kept != 7 or agents_kept != 7:
            problems.append(f"adopted {kept}/7 holders, {agents_kept}/7 agents kept")
        if now.get(away) in (None, before[away]):
            problems.append("the agent that ended while away was not restarted")
        elif after.get(away) != restarts.get(away, 0) + 1:
            problems.append(f"{away} restarts {restarts.get(away)} -> {after.get(away)}")
        if dups or orphans:
            problems.append(f"duplicates {dups[:2]} orphans {orphans[:2]}")
        figure = (
            f"daemon pid {old_daemon} SIGKILLed with 8 agents, 1 agent killed while away; "
            f"`wzp up` -> {kept}/7 adopted (same holder and agent pids), the lost one "
            f"restarted by policy, in {took * 1000:.0f} ms; {len(dups)} duplicates"
        )
    finally:
        close_checked(sb, problems)
    return [("daemon SIGKILL at rest", figure, held(problems))]


def row_reload_crash(_sizes: Sizes) -> list[Row]:
    """SIGKILL the daemon at several moments of a reload that replaces every pane."""
    n = 16
    sb = Sandbox("wzptr", {"t": grid_template(SLEEPER)}, max_workspaces=n // 4 + 1)
    config = sb.config_dir / "config.yaml"
    problems: list[str] = []
    delays = (0.0, 0.03, 0.1, 0.25, 0.5)
    stuck_total = 0
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(n // 4)
        sb.wait_running(n, 120)
        for round_, delay in enumerate(delays):
            doc = json.loads(config.read_text())
            command = f"{SLEEPER} v{round_}"  # every pane's spec changes: all are replaced
            for pane in doc["workspaces"]["templates"]["t"]["panes"]:
                pane["command"] = command
            config.write_text(json.dumps(doc, indent=1))
            with HubClient(sb.hub_path, timeout=30) as client:
                client.send("reload")
                time.sleep(delay)
                sb.kill_daemon()
            if sb.wzp("up").returncode != 0:
                problems.append(f"kill {delay * 1000:.0f} ms into reload: wzp up failed")
                break
            sb.wait_running(n, 20)
            procs = sb.status()
            stuck = [p["target"] for p in procs if p["state"] != "running"]
            stale = [p["target"] for p in procs if f"v{round_}" not in " ".join(p["command"])]
            dups, orphans = dup_and_orphans(sb)
            stuck_total += len(stuck)
            if stuck:
                problems.append(
                    f"kill {delay * 1000:.0f} ms in: {len(stuck)} not running {stuck[:2]}"
                )
            if dups or orphans:
                problems.append(
                    f"kill {delay * 1000:.0f} ms in: dups {dups[:2]} orphans {orphans[:2]}"
                )
            if stale and not stuck:
                # the new daemon read the new config: every pane must run the new command
                problems.append(f"kill {delay * 1000:.0f} ms in: {len(stale)} on the old command")
    finally:
        close_checked(sb, problems)
    figure = (
        f"{n} panes all replaced by a reload, daemon SIGKILLed "
        f"{', '.join(f'{d * 1000:.0f}' for d in delays)} ms after `reload` was sent, then "
        f"`wzp up`: {stuck_total} panes left not running over {len(delays)} rounds"
    )
    return [("daemon SIGKILL during reload", figure, held(problems))]


# -- 8. wzp down of SIGTERM-ignoring trees, and leaks --------------------------------------

TERM_IGNORERS = [
    # p0: the agent ignores SIGTERM/SIGHUP and so do its two background children
    "trap '' TERM HUP; sleep 100000 & sleep 100000 & wait",
    # p1: a Python agent ignoring both, forked once
    f"{PY} -c 'import os,signal,time; [signal.signal(s, signal.SIG_IGN) for s in "
    "(signal.SIGTERM, signal.SIGHUP)]; os.fork(); time.sleep(1e5)'",
    # p2: the agent ignores SIGTERM and leaves a `setsid -f` double fork that ignores it too
    "setsid -f sh -c 'trap \"\" TERM HUP; exec sleep 100000'; trap '' TERM HUP; exec sleep 100000",
    # p3: the agent obeys SIGTERM; a nohup child and a `setsid -f` double fork ignore it
    "nohup sh -c 'trap \"\" TERM HUP INT; sleep 100000' >/dev/null 2>&1 & "
    "setsid -f sh -c 'trap \"\" TERM HUP; exec sleep 100000'; exec sleep 100000",
]


def row_down(_sizes: Sizes) -> list[Row]:
    return [_down(10.0), _down(2.0)]


def _down(graceful: float) -> Row:
    """``wzp down`` of the TERM_IGNORERS panes with ``processes.claude_code.timeout``."""
    positions = ("top_left", "top_right", "bottom_left", "bottom_right")
    panes = [
        {"name": f"p{i}", "position": pos, "command": cmd, "shell": True}
        for i, (pos, cmd) in enumerate(zip(positions, TERM_IGNORERS, strict=True))
    ]
    sb = Sandbox(
        "wzptd",
        {"t": {"layout": "four_pane_grid", "panes": panes}},
        extra={"processes": {"claude_code": {"timeout": graceful}}},
    )
    problems: list[str] = []
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(1)
        sb.wait_running(4, 30)
        time.sleep(1.0)
        tree = len(sb.processes())
        start = time.perf_counter()
        down = sb.wzp("down", "--timeout", "60", timeout=90)
        took = time.perf_counter() - start
        time.sleep(3.0)  # anything still ending has had time to
        survivors = [describe(p) for p in sb.processes()]
        if down.returncode != 0:
            problems.append(f"wzp down rc {down.returncode}")
        if survivors:
            problems.append(f"{len(survivors)} survived `wzp down`: {survivors[:3]}")
        figure = (
            f"4 trees ignoring SIGTERM/SIGHUP (trap, fork, `setsid -f` double forks, nohup), "
            f"{tree} processes with the daemon: `wzp down` took {took:.1f} s, "
            f"{len(survivors)} survivors 3 s later"
        )
    finally:
        sb.close()
    return (
        f"`wzp down` of SIGTERM-ignoring trees (timeout {graceful:g} s)",
        figure,
        held(problems),
    )


def row_leaks(_sizes: Sizes) -> list[Row]:
    crasher = "sleep 100000 & sleep 0.5; exit 1"
    hup_ignorer = (
        f"{PY} -c 'import signal,time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        "time.sleep(1e5)'"
    )
    panes = [
        {"name": "crash", "position": "left", "command": crasher, "shell": True, "min_uptime": 0},
        {"name": "nohup", "position": "right", "command": hup_ignorer},
    ]
    sb = Sandbox("wzptx", {"t": {"layout": "two_pane_horizontal", "panes": panes}})
    problems: list[str] = []
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(1)
        sb.wait_running(2, 30)
        base = {p["target"]: p["restarts"] for p in sb.status()}
        time.sleep(0.5)
        holder = sb.running_pids().get("w0/nohup")
        if holder:
            os.kill(holder, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = sb.running_pids()
            if now.get("w0/nohup") not in (None, holder):
                break
            time.sleep(0.05)
        time.sleep(5.0)  # the crasher crashes about every 0.6 s meanwhile
        procs = {p["target"]: p for p in sb.status()}
        crashes = procs["w0/crash"]["restarts"] - base["w0/crash"]
        agents = sb.agent_processes()
        leaked = [
            p for p in agents.get("w0/crash", []) if safe_cmdline(p).startswith("sleep 100000")
        ]
        current = sb.running_pids().get("w0/crash")
        mine = set()
        if current:
            with contextlib.suppress(psutil.Error):
                mine = {c.pid for c in psutil.Process(current).children(recursive=True)}
        leaked = [p for p in leaked if p.pid not in mine]
        nohup_agents = [p for p in agents.get("w0/nohup", []) if "SIGHUP" in safe_cmdline(p)]
        if leaked:
            problems.append(f"{len(leaked)} background children of crashed runs still alive")
        if len(nohup_agents) != 1:
            problems.append(f"{len(nohup_agents)} SIGHUP-ignoring agents for one pane")
        figure = (
            f"agent backgrounding a child, crashing {crashes} times: {len(leaked)} leaked "
            f"children alive; holder SIGKILLed under a SIGHUP-ignoring agent: "
            f"{len(nohup_agents)} agent(s) for the pane after the restart"
        )
    finally:
        close_checked(sb, problems)
    return [("leaks under PID 1 (crash children, holder kill)", figure, held(problems))]

"""Adversarial table: does the supervisor keep its promises under load, crashes and hostile input?

Each row runs one scenario for real against the current code (real daemon, holders, agents,
sockets; temp XDG dirs; loopback only) and returns (what, figure, verdict). A verdict is
``held`` when every promise checked held, ``DEFECT: …`` when one broke (the daemon died, an
acknowledged change was lost, a duplicate or orphan process appeared, another user got in),
``skipped: …`` when the machine does not allow the scenario. Nothing is asserted: the table is
printed as markdown for a note.

Default sizes keep the whole run within a few minutes on 2 cores; ``--full`` uses the sizes of
the original adversarial run (100 agents, a SIGKILL every 200 ms for 60 s; 1,000 slowloris
connections). ``--only NAME[,NAME]`` runs some rows.

Usage: ``.venv/bin/python bench/bench_trust.py [--full] [--only load,hub]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wzp_harness import (
    PY,
    SLEEP_CODE,
    DaemonNotRunning,
    RequestFailed,
    Sandbox,
    grid_template,
    install_exit_handlers,
    progress,
    raise_nofile,
)

from wzp_supervisor.cli.hub_client import HubClient
from wzp_supervisor.hub_schema import SCHEMAS
from wzp_supervisor.session import wire

Row = tuple[str, str, str]
SLEEPER = f"{PY} -c '{SLEEP_CODE}'"
SYSTEM_PY = "/usr/bin/python3"


@dataclass
class Sizes:
    load_agents: int = 100
    load_seconds: float = 30.0
    kill_interval: float = 0.2
    slowloris: int = 1000
    slowloris_procs: int = 10
    tasks: int = 50


def held(problems: list[str]) -> str:
    return "held" if not problems else "DEFECT: " + "; ".join(problems)


def one_workspace(prefix: str) -> Sandbox:
    """A sandbox whose template ``t`` is four sleeper panes, with its daemon up."""
    sb = Sandbox(prefix, {"t": grid_template(SLEEPER)})
    up = sb.wzp("up")
    if up.returncode != 0:
        sb.close()
        raise RuntimeError(f"wzp up failed: {up.stderr.strip()}")
    return sb


def dup_and_orphans(sb: Sandbox) -> tuple[list[str], list[str]]:
    """Targets with more than one holder or agent; agent processes whose holder is gone."""
    dups: list[str] = []
    holders: dict[str, int] = {}
    for proc in sb.holders():
        with contextlib.suppress(psutil.Error, ValueError, IndexError):
            args = proc.cmdline()
            target = args[args.index("--target") + 1]
            holders[target] = holders.get(target, 0) + 1
    dups += [f"{t}: {n} holders" for t, n in holders.items() if n > 1]
    holder_pids = {p.pid for p in sb.holders()}
    orphans: list[str] = []
    for target, procs in sb.agent_processes().items():
        tops = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.ppid() in holder_pids:
                    tops.append(proc)
                elif proc.ppid() == 1 or not psutil.pid_exists(proc.ppid()):
                    orphans.append(f"{target}: pid {proc.pid} ({' '.join(proc.cmdline())[:40]})")
        if len(tops) > 1:
            dups.append(f"{target}: {len(tops)} agents")
    return dups, orphans


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
        deadline = time.monotonic() + 60
        procs = sb.status()
        while time.monotonic() < deadline:
            procs = sb.status()
            if procs and all(p["state"] in ("running", "fatal", "exited") for p in procs):
                break
            time.sleep(0.2)
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
        left = sb.close()
    if left:
        problems.append(f"{len(left)} processes outlived `wzp down`: {left[:2]}")
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
        deadline = time.monotonic() + 60
        procs = sb.status()
        while time.monotonic() < deadline:
            procs = sb.status()
            if procs and all(p["state"] in ("running", "fatal", "exited") for p in procs):
                break
            time.sleep(0.2)
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
        left = sb.close()
    if left:
        problems.append(f"{len(left)} outlived `wzp down`")
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
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
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
        left = sb.close()
    if left:
        problems.append(f"{len(left)} outlived `wzp down`")
    figure = (
        f"{n} panes all replaced by a reload, daemon SIGKILLed "
        f"{', '.join(f'{d * 1000:.0f}' for d in delays)} ms after `reload` was sent, then "
        f"`wzp up`: {stuck_total} panes left not running over {len(delays)} rounds"
    )
    return [("daemon SIGKILL during reload", figure, held(problems))]


# -- 3. corrupt state ----------------------------------------------------------------------


def _deep(depth: int) -> bytes:
    return b'{"schema":1,"workspaces":' + b"[" * depth + b"]" * depth + b',"processes":{}}'


CORRUPTIONS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("random bytes", lambda good: bytes(random.Random(3).randrange(256) for _ in range(4096))),
    ("truncated", lambda good: good[: len(good) // 2]),
    ("empty file", lambda good: b""),
    ("NUL bytes", lambda good: b"\0" * 512),
    ("ws without template", lambda good: b'{"schema":1,"workspaces":{"alpha":{}},"processes":{}}'),
    ("workspaces: [1,2]", lambda good: b'{"schema":1,"workspaces":[1,2],"processes":{}}'),
    ("processes: [1]", lambda good: _patch(good, processes=[1])),
    ("process record 'x'", lambda good: _patch(good, processes={"w0/p0": "x"})),
    ("restarts: 'many'", lambda good: _patch_proc(good, restarts="many")),
    ("dir: 5", lambda good: _patch_ws(good, dir=5)),
    ("created: 'x'", lambda good: _patch_ws(good, created="x")),
    ("200k-deep nesting", lambda good: _deep(200_000)),
]


def _patch(good: bytes, **fields: Any) -> bytes:
    doc = json.loads(good)
    doc.update(fields)
    return json.dumps(doc).encode()


def _patch_ws(good: bytes, **fields: Any) -> bytes:
    doc = json.loads(good)
    doc["workspaces"]["w0"].update(fields)
    return json.dumps(doc).encode()


def _patch_proc(good: bytes, **fields: Any) -> bytes:
    doc = json.loads(good)
    doc["processes"]["w0/p0"].update(fields)
    return json.dumps(doc).encode()


def row_corrupt_state(_sizes: Sizes) -> list[Row]:
    sb = one_workspace("wzptc")
    problems: list[str] = []
    started = recovered = warned = 0
    try:
        sb.create_workspaces(1)
        sb.wait_running(4, 60)
        # a second daemon start makes a backup of the first daemon's complete state file
        sb.wzp("down")
        sb.wzp("up")
        sb.wait_running(4, 60)
        sb.wzp("down")
        state = sb.state_dir / "state.json"
        good = state.read_bytes()
        for name, corrupt in CORRUPTIONS:
            state.write_bytes(corrupt(good))
            up = sb.wzp("up", "--timeout", "20")
            if up.returncode != 0 or sb.ping() is None:
                problems.append(f"{name}: daemon did not start ({up.stderr.strip()[-80:]})")
                continue
            started += 1
            names = [w["name"] for w in sb.hub("workspace.list")["workspaces"]]
            if names == ["w0"] and sb.wait_running(4, 30) is not None:
                recovered += 1
            else:
                problems.append(f"{name}: workspaces after start {names}")
            events = sb.hub("events.recent", limit=200)["events"]
            if any(e.get("event") == "Error" for e in events):
                warned += 1
            sb.wzp("down")
        # stray files in backups/ beside a corrupt state (pruning by exact name)
        backups = sb.state_dir / "backups"
        (backups / "state.manual-copy.json").write_text("{}")
        (backups / "state.json.bak").write_text("not json")
        state.write_bytes(b"{broken")
        up = sb.wzp("up", "--timeout", "20")
        stray_ok = up.returncode == 0 and sb.ping() is not None
        if stray_ok:
            names = [w["name"] for w in sb.hub("workspace.list")["workspaces"]]
            stray_ok = names == ["w0"]
            sb.hub("workspace.create", name="w9", template="t", dir=str(sb.work))
            sb.kill_daemon()
            sb.wzp("up")
            names = [w["name"] for w in sb.hub("workspace.list")["workspaces"]]
            if "w9" not in names:
                problems.append("stray backups: a created workspace vanished after SIGKILL")
        else:
            problems.append("stray backups + corrupt state: daemon did not start or lost w0")
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
    figure = (
        f"{len(CORRUPTIONS)} corrupt state files: daemon started {started}/{len(CORRUPTIONS)}, "
        f"workspaces recovered from backup {recovered}/{len(CORRUPTIONS)}, error event "
        f"{warned}/{len(CORRUPTIONS)}; stray files in backups/: "
        f"{'recovered' if stray_ok else 'NOT recovered'}"
    )
    return [("corrupt state bytes", figure, held(problems))]


# -- 4. hub fuzzing ------------------------------------------------------------------------


def raw_exchange(
    path: Path, data: bytes, timeout: float = 10.0, half_close: bool = False
) -> dict[str, Any] | str:
    """Send ``data`` on a fresh hub connection (then end our side when ``half_close``); the
    first reply, or 'closed' / 'timeout'."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            buf = b""
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return "closed"
                buf += chunk
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return f"closed ({exc.strerror or exc})"
    try:
        reply: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
    except ValueError:
        return "unparsable reply"
    return reply


WRONG: dict[str, list[Any]] = {
    "str": [1, 1.5, True, [], {}, ["a"]],
    "int": ["1", 1.5, True, [], {}, "x", float("nan")],
    "bool": ["false", "true", 0, 1, [], {}, "no"],
    "number": ["1", True, [], {}, float("nan"), float("inf")],
    "object": ["{}", [], 1, True],
    "str_list": ["a", [1], [None], {}, 1],
}
VALID: dict[str, Any] = {
    "str": "zz-none",
    "int": 1,
    "bool": False,
    "number": 1.0,
    "object": {},
    "str_list": ["wzp"],
}
LAST = ("shutdown", "daemon.restart")  # fuzzed last: a wrong acceptance ends the daemon


def fuzz_messages() -> list[dict[str, Any]]:
    """One message per (type, field, wrong value), other required fields valid; plus an
    unknown field per type; destructive types last."""
    out: list[dict[str, Any]] = []
    for kind in sorted(SCHEMAS, key=lambda k: (k in LAST, k)):
        schema = SCHEMAS[kind]
        base = {f: VALID[k] for f, (k, required) in schema.items() if required}
        if "target" in base:
            base["target"] = "zz/none"
        if kind == "workspace.delete":
            base["name"] = "w0"  # an existing workspace: force "false" must not delete it
        for name, (field_kind, _required) in schema.items():
            for wrong in WRONG[field_kind]:
                out.append({"v": 1, "id": len(out), "type": kind, **base, name: wrong})
        out.append({"v": 1, "id": len(out), "type": kind, **base, "zz_unknown": 1})
    return out


def code_of(reply: dict[str, Any] | str) -> str:
    """The error code of a reply, ``ok``, or what happened instead of a reply."""
    if isinstance(reply, dict):
        return "ok" if reply.get("ok") else str(reply.get("error", {}).get("code"))
    return reply


def row_hub(sizes: Sizes) -> list[Row]:
    sb = one_workspace("wzpth")
    rows: list[Row] = []
    try:
        sb.create_workspaces(1)
        sb.wait_running(4, 60)
        daemon = sb.daemon_pid()
        holders = sb.running_pids()
        rss0 = psutil.Process(daemon).memory_info().rss if daemon else 0
        path = sb.hub_path

        # 4a. size cap
        problems: list[str] = []
        cap = 1_048_576
        over = raw_exchange(path, b'{"type":"ping","pad":"' + b"x" * cap + b'"}\n')
        under = raw_exchange(
            path, b'{"v":1,"id":1,"type":"ping","p":"' + b"x" * (cap - 64) + b'"}\n'
        )
        endless = raw_exchange(path, b"x" * (16 * cap), timeout=10)
        for label, reply, want in (("over", over, "too_large"), ("under", under, "bad_request")):
            code = reply.get("error", {}).get("code") if isinstance(reply, dict) else reply
            if code != want:
                problems.append(f"{label}-cap line answered {code!r}, expected {want}")
        if sb.ping() is None or sb.daemon_pid() != daemon:
            problems.append("daemon stopped answering")
        rss1 = psutil.Process(daemon).memory_info().rss if daemon else 0
        rows.append(
            (
                "hub: 1 MiB cap",
                f"1 MiB+ line -> {code_of(over)}; line just under -> {code_of(under)}; "
                f"16 MiB without newline -> {code_of(endless)}; daemon RSS "
                f"{rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB",
                held(problems),
            )
        )

        # 4b. wrongly-typed requests
        problems = []
        messages = fuzz_messages()
        refused = accepted = other = lost = 0
        accepted_examples: list[str] = []
        for msg in messages:
            line = json.dumps(msg, allow_nan=True).encode() + b"\n"
            reply = raw_exchange(path, line, timeout=15)
            if not isinstance(reply, dict):
                lost += 1
                if sb.ping() is None:
                    problems.append(f"daemon stopped answering after {line[:100]!r}")
                    break
            elif reply.get("ok"):
                accepted += 1
                accepted_examples.append(line[:90].decode(errors="replace"))
            elif reply["error"]["code"] == "bad_request":
                refused += 1
            else:
                other += 1
        garbage = [
            b"\xff\xfe\x00garbage\n",
            b"[]\n",
            b"1\n",
            b'"x"\n',
            b"null\n",
            b'{"v":2,"type":"ping"}\n',
            b'{"v":1,"id":{},"type":"ping"}\n',
            b'{"v":1,"type":"no.such.type"}\n',
            b'{"v":1,"type":"ping"',  # no newline, then EOF
            b"[" * 100_000 + b"]" * 100_000 + b"\n",
            b'{"TaskRequest": 5}\n',
        ]
        unanswered_garbage = [
            g[:12].decode(errors="replace") + ("…" if len(g) > 12 else "")
            for g in garbage
            if not isinstance(reply := raw_exchange(path, g, 10, True), dict) or reply.get("ok")
        ]
        garbage_answered = len(garbage) - len(unanswered_garbage)
        surrogate = raw_exchange(
            path, b'{"v":1,"id":1,"type":"task.submit","workspace":"w0","prompt":"a\\ud800b"}\n'
        )
        listing = raw_exchange(path, b'{"v":1,"id":2,"type":"task.list"}\n')
        surrogate_said = code_of(surrogate)
        listing_said = "ok" if isinstance(listing, dict) and listing.get("ok") else "BROKEN"
        if listing_said != "ok":
            problems.append(f"task.list broken after a lone surrogate: {str(listing)[:80]}")
        if accepted:
            problems.append(f"{accepted} accepted, e.g. {accepted_examples[:2]}")
        if "w0" not in [w["name"] for w in sb.hub("workspace.list")["workspaces"]]:
            problems.append('workspace w0 deleted by a wrongly-typed "force"')
        if sb.ping() is None or sb.daemon_pid() != daemon:
            problems.append("daemon died or was replaced")
        if sb.running_pids() != holders:
            problems.append("agents changed")
        rows.append(
            (
                "hub: wrongly-typed requests",
                f"{len(messages)} requests ({len(SCHEMAS)} types x every field x wrong types, "
                f"unknown fields): {refused} bad_request, {accepted} accepted, {other} other "
                f"errors, {lost} unanswered; {garbage_answered}/{len(garbage)} garbage lines "
                f"answered with an error (closed: {unanswered_garbage}); lone surrogate prompt -> "
                f"{surrogate_said}, task.list after it {listing_said}",
                held(problems),
            )
        )

        # 4c. slowloris
        rows.append(slowloris(sb, sizes, daemon))
    finally:
        left = sb.close()
    if left:
        rows.append(("hub fuzzing: cleanup", f"{len(left)} left after down", "DEFECT"))
    return rows


SLOW_CLIENT = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        s.send(b'{"v":1,"id":1,"type":"pi')
        socks.append(s)
    except OSError:
        s.close()
print(len(socks), flush=True)
sys.stdin.readline()
import select
open_ = 0
for s in socks:
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        open_ += 1
    else:
        try:
            if s.recv(1, socket.MSG_PEEK):
                pass
        except OSError:
            pass
print(open_, flush=True)
"""


def slowloris(sb: Sandbox, sizes: Sizes, daemon: int | None) -> Row:
    problems: list[str] = []
    per = sizes.slowloris // sizes.slowloris_procs
    clients = [
        subprocess.Popen(
            [PY, "-c", SLOW_CLIENT, str(sb.hub_path), str(per)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=sb.root,
        )
        for _ in range(sizes.slowloris_procs)
    ]
    try:
        connected = sum(int(c.stdout.readline() or 0) for c in clients if c.stdout)
        time.sleep(3.0)  # over-cap clients get their refusal within 2 s
        start = time.perf_counter()
        cli = sb.wzp("ping", timeout=30)
        cli_took = time.perf_counter() - start
        during = "answered" if cli.returncode == 0 else f"refused (rc {cli.returncode})"
        reason = (cli.stderr or cli.stdout).strip().splitlines()[-1:] if cli.returncode else []
        stayed = 0
        for c in clients:
            if c.stdin and c.stdout:
                c.stdin.write("\n")
                c.stdin.flush()
                stayed += int(c.stdout.readline() or 0)
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.kill()
            c.wait()
    time.sleep(0.5)
    start = time.perf_counter()
    after_ok = sb.wzp("ping").returncode == 0
    after_took = time.perf_counter() - start
    if sb.ping() is None or sb.daemon_pid() != daemon:
        problems.append("daemon died")
    if not after_ok:
        problems.append("ping fails after the slow clients left")
    figure = (
        f"{sizes.slowloris} half-sent requests from {sizes.slowloris_procs} processes: "
        f"{connected} connected, {stayed} held open by the daemon; `wzp ping` meanwhile "
        f"{during} in {cli_took * 1000:.0f} ms{(' (' + reason[0][:90] + ')') if reason else ''}; "
        f"after they left: {'answered' if after_ok else 'FAILED'} in {after_took * 1000:.0f} ms"
    )
    verdict = held(problems)
    if "Traceback" in cli.stderr:
        problems.append("`wzp ping` ends in a Python traceback on the hub's limit reply")
        verdict = held(problems)
    elif verdict == "held" and cli.returncode != 0:
        verdict = "held (daemon alive), but a legitimate client is refused while they hold"
    return ("hub: slowloris connections", figure, verdict)


IDLE_CLIENT = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        socks.append(s)
    except OSError:
        s.close()
print(len(socks), flush=True)
sys.stdin.readline()
"""


def row_fd_limits(_sizes: Sizes) -> list[Row]:
    """The daemon under a small open-files limit: creates refused by the fd budget, and idle
    hub connections that would exhaust its descriptors."""
    from wzp_supervisor import fd_budget

    limit = 256
    allowed = fd_budget.max_agents_for_fd_limit(limit)
    want_ws = allowed // 4 + 2
    sb = Sandbox("wzptl", {"t": grid_template(SLEEPER)}, max_workspaces=want_ws + 1)
    problems: list[str] = []
    clients: list[subprocess.Popen[str]] = []
    try:
        wrap = ("prlimit", f"--nofile={limit}:{limit}")
        if sb.wzp("up", wrap=wrap).returncode != 0:
            raise RuntimeError("wzp up under prlimit failed")
        created, refusal = 0, ""
        for i in range(want_ws):
            out = sb.wzp("workspace", "create", f"w{i}", "-t", "t", "--dir", str(sb.work))
            if out.returncode == 0:
                created += 1
            else:
                refusal = (out.stderr.strip().splitlines() or [""])[-1]
                break
        running = sb.wait_running(created * 4, 120)
        daemon = sb.daemon_pid()
        proc = psutil.Process(daemon) if daemon else None
        log = sb.state_dir / "logs" / "daemon.out"
        log0 = log.stat().st_size if log.exists() else 0
        clients = [
            subprocess.Popen(
                [PY, "-c", IDLE_CLIENT, str(sb.hub_path), "100"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=sb.root,
            )
            for _ in range(limit // 100 + 3)
        ]
        connected = sum(int(c.stdout.readline() or 0) for c in clients if c.stdout)
        cpu0 = proc.cpu_times() if proc else None
        time.sleep(5.0)
        cpu = 0.0
        if proc and cpu0:
            cpu1 = proc.cpu_times()
            cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 5.0 * 100
        ping = sb.wzp("ping")
        log1 = log.stat().st_size if log.exists() else 0
        for c in clients:
            with contextlib.suppress(Exception):
                c.kill()
            c.wait()
        time.sleep(0.5)
        after = sb.wzp("ping")
        if created * 4 > allowed:
            problems.append(f"{created * 4} agents accepted, the budget allows {allowed}")
        if not refusal:
            problems.append("no create was refused")
        if running is None:
            problems.append("not every accepted agent runs")
        if after.returncode != 0 or sb.daemon_pid() != daemon:
            problems.append("daemon died or does not answer once the clients left")
        if "Traceback" in ping.stderr:
            problems.append("`wzp ping` ends in a traceback")
        if cpu > 20:
            problems.append(f"daemon at {cpu:.0f} % CPU with idle clients")
        figure = (
            f"`ulimit -n {limit}` (budget: {allowed} agents): {created} workspaces "
            f"({created * 4} agents) created, the next refused ({refusal[:80]!r}); "
            f"{connected} idle hub connections: daemon CPU {cpu:.1f} %, daemon.out +"
            f"{(log1 - log0) / 1024:.1f} KiB in 5 s, `wzp ping` meanwhile rc {ping.returncode}"
            f"{' (traceback)' if 'Traceback' in ping.stderr else ''}, after they left rc "
            f"{after.returncode}"
        )
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.kill()
            c.wait()
        left = sb.close()
    if left:
        problems.append(f"{len(left)} outlived `wzp down`")
    return [("open-files limit: budget and idle connections", figure, held(problems))]


# -- 5. attach floods and bad frames -------------------------------------------------------


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BI", kind, len(payload)) + payload


def hello(obj: dict[str, Any]) -> bytes:
    return frame(wire.Frame.HELLO, json.dumps(obj, allow_nan=True).encode())


def holder_exchange(path: Path, data: bytes, timeout: float = 5.0) -> str:
    """What a holder answers to ``data`` first: ERROR/INFO/REDRAW/…, 'closed' or 'no reply'."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
            sock.sendall(data)
            head = b""
            while len(head) < 5:
                chunk = sock.recv(5 - len(head))
                if not chunk:
                    return "closed"
                head += chunk
        except TimeoutError:
            return "no reply"
        except OSError as exc:
            return f"closed ({exc.strerror})"
    kind = head[0]
    try:
        return wire.Frame(kind).name
    except ValueError:
        return f"frame {kind}"


BAD_FRAMES: list[tuple[str, bytes]] = [
    ("send without text", hello({"mode": "send"})),
    ("attach cols 70000", hello({"mode": "attach", "cols": 70000, "rows": 24})),
    ("attach cols 1e300", hello({"mode": "attach", "cols": 1e300, "rows": 24})),
    ("peek lines Infinity", hello({"mode": "peek", "lines": float("inf")})),
    ("attach rows Infinity", hello({"mode": "attach", "cols": 80, "rows": float("inf")})),
    ("attach cols Infinity", hello({"mode": "attach", "cols": float("inf"), "rows": 24})),
    ("send enter_delay NaN", hello({"mode": "send", "text": "", "enter_delay": float("nan")})),
    ("peek lines -1", hello({"mode": "peek", "lines": -1})),
    ("peek lines '5'", hello({"mode": "peek", "lines": "5"})),
    ("unknown mode", hello({"mode": "bogus"})),
    ("HELLO not JSON", frame(wire.Frame.HELLO, b"\xff{")),
    ("HELLO a list", frame(wire.Frame.HELLO, b"[1]")),
    ("INPUT before HELLO", frame(wire.Frame.INPUT, b"ls\r")),
    ("unknown frame type", frame(0x7F, b"")),
    ("header claims 4 GiB", struct.pack(">BI", wire.Frame.HELLO, 0xFFFFFFFF)),
]


def row_attach(_sizes: Sizes) -> list[Row]:
    sb = one_workspace("wzpta")
    problems: list[str] = []
    try:
        sb.create_workspaces(1)
        sb.wait_agents(4, 60)
        sockets = sb.holder_sockets()
        target = "w0/p0"
        holder_pid, path = sockets[target]
        agent_before = sb.agents_of({target: holder_pid})[target]
        holder = psutil.Process(holder_pid)
        rss0 = holder.memory_info().rss
        answers: dict[str, int] = {}
        taken = []
        for label, data in BAD_FRAMES:
            answer = holder_exchange(path, data)
            answers[answer] = answers.get(answer, 0) + 1
            if answer != "ERROR":
                taken.append(f"{label}: {answer}")
        # RESIZE to the largest size, then peek
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(os.fspath(path))
            sock.sendall(hello({"mode": "attach", "cols": 80, "rows": 24}))
            sock.sendall(frame(wire.Frame.RESIZE, struct.pack(">HH", 65535, 1500)))
            time.sleep(0.2)
            start = time.perf_counter()
            peek_answer = holder_exchange(path, hello({"mode": "peek"}), timeout=60)
            peek_ms = (time.perf_counter() - start) * 1000
        # flood: 40 attachers, each pushing 2 MiB of input at an agent that never reads
        sent = [0]
        lock = threading.Lock()

        def flood() -> None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                try:
                    sock.connect(os.fspath(path))
                    sock.sendall(hello({"mode": "attach", "cols": 80, "rows": 24}))
                    chunk = frame(wire.Frame.INPUT, b"y" * 65536)
                    for _ in range(32):
                        sock.sendall(chunk)
                        with lock:
                            sent[0] += 65536
                except OSError:
                    return

        threads = [threading.Thread(target=flood) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # 10 connections each holding a half-sent 32 MiB frame
        half = []
        for _ in range(10):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            with contextlib.suppress(OSError):
                s.connect(os.fspath(path))
                s.sendall(hello({"mode": "attach", "cols": 80, "rows": 24}))
                s.sendall(struct.pack(">BI", wire.Frame.INPUT, 32 * 2**20) + b"z" * 2**20)
            half.append(s)
        time.sleep(1.0)
        try:
            rss1 = holder.memory_info().rss
        except psutil.Error:
            rss1 = 0
        start = time.perf_counter()
        after = holder_exchange(path, hello({"mode": "info"}), timeout=10)
        info_ms = (time.perf_counter() - start) * 1000
        for s in half:
            s.close()
        alive = holder.is_running() and holder.status() != psutil.STATUS_ZOMBIE
        agent_after = sb.agents_of({target: holder_pid})[target] if alive else []
        if not alive:
            problems.append("the holder died")
        if agent_after != agent_before:
            problems.append(f"agent pids {agent_before} -> {agent_after}")
        if sb.running_pids().get(target) != holder_pid:
            problems.append("the process table shows another pid")
        if after != "INFO":
            problems.append(f"info after the flood: {after}")
        figure = (
            f"{len(BAD_FRAMES)} bad HELLOs/frames -> "
            + ", ".join(f"{k} {v}" for k, v in sorted(answers.items()))
            + (f" (not ERROR: {'; '.join(taken)})" if taken else "")
            + f"; RESIZE 65535x1500 then peek -> {peek_answer} in {peek_ms:.0f} ms; "
            f"40 attachers x 2 MiB input ({sent[0] / 2**20:.0f} MiB accepted) + 10 half-sent "
            f"32 MiB frames: holder RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB, info "
            f"after in {info_ms:.0f} ms; holder and agent pids unchanged: "
            f"{'yes' if not problems else 'NO'}"
        )
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
    return [("attach floods, bad frames", figure, held(problems))]


# -- 6. other users ------------------------------------------------------------------------

PROBE = r"""
import json, socket, sys
path, data = sys.argv[1], bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
try:
    s.connect(path)
except OSError as exc:
    print("cannot connect: " + (exc.strerror or str(exc)))
    sys.exit(0)
try:
    s.sendall(data)
    got = s.recv(4096)
    print("reply: " + repr(got[:80]) if got else "closed without reply")
except OSError as exc:
    print("closed: " + (exc.strerror or str(exc)))
"""

IMPOSTOR = r"""
import json, os, socket, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
os.chmod(d, 0o777)
path = os.path.join(d, "hub.sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o777)
srv.listen(16)
print("ready", flush=True)
log = open(os.path.join(d, "captured"), "ab")
while True:
    conn, _ = srv.accept()
    conn.settimeout(5)
    try:
        data = conn.recv(65536)
        log.write(data); log.flush()
        for line in data.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            reply = {"v": 1, "id": msg.get("id"), "ok": True, "pid": 4242, "uptime": 1.0,
                     "version": "0", "task": {"id": "t1", "state": "done", "prompt": ""},
                     "done": True, "response": "attacker answer", "processes": [],
                     "workspaces": []}
            conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass
    conn.close()
"""


def as_nobody(*argv: str) -> list[str]:
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PY, *argv]


def row_other_user(_sizes: Sizes) -> list[Row]:
    if os.getuid() != 0:
        return [("other-user socket access", "needs root to act as nobody", "skipped: not root")]
    rows: list[Row] = []
    sb = one_workspace("wzpto")
    try:
        sb.create_workspaces(1)
        sb.wait_running(4, 60)
        daemon = sb.daemon_pid()
        _pid, holder_sock = sb.holder_sockets()["w0/p0"]
        ping = b'{"v":1,"id":1,"type":"ping"}\n'
        send = hello({"mode": "send", "text": "touch /tmp/owned", "enter": True})

        def probe(path: Path, data: bytes) -> str:
            out = subprocess.run(
                as_nobody("-c", PROBE, os.fspath(path), data.hex()),
                capture_output=True,
                text=True,
                timeout=20,
            )
            return (out.stdout or out.stderr).strip()[:90]

        hub_plain = probe(sb.hub_path, ping)
        holder_plain = probe(holder_sock, send)
        # open every directory and socket to others: the peer-uid checks alone must refuse
        opened = [sb.runtime, sb.app_runtime, holder_sock.parent]
        for d in opened:
            os.chmod(d, 0o755)
        for s in (sb.hub_path, holder_sock):
            os.chmod(s, 0o666)
        try:
            hub_open = probe(sb.hub_path, ping)
            holder_open = probe(holder_sock, send)
        finally:
            for d in opened:
                os.chmod(d, 0o700)
            for s in (sb.hub_path, holder_sock):
                os.chmod(s, 0o600)
        problems = []
        for label, answer in (
            ("hub", hub_plain),
            ("holder", holder_plain),
            ("hub (dirs opened)", hub_open),
            ("holder (dirs opened)", holder_open),
        ):
            refused = "forbidden" in answer or answer.startswith("reply: b'\\x15")  # ERROR
            if answer.startswith("reply") and not refused:
                problems.append(f"{label}: nobody got {answer}")
        if sb.daemon_pid() != daemon or sb.ping() is None:
            problems.append("daemon died")
        rows.append(
            (
                "other user (nobody) on our sockets",
                f"hub: {hub_plain}; holder: {holder_plain}; with dirs 0755 and sockets 0666: "
                f"hub: {hub_open}; holder: {holder_open}",
                held(problems),
            )
        )
    finally:
        left = sb.close()
    rows.append(impostor_row())
    if left:
        rows.append(("other user: cleanup", f"{len(left)} left after down", "DEFECT"))
    return rows


def impostor_row() -> Row:
    """Without XDG_RUNTIME_DIR, nobody pre-creates our runtime dir in the shared temp dir."""
    sb = Sandbox("wzpti", {"t": grid_template(SLEEPER)})
    tmp = sb.root / "tmp"
    tmp.mkdir()
    os.chmod(tmp, 0o1777)
    env = dict(sb.env)
    env.pop("XDG_RUNTIME_DIR")
    env["TMPDIR"] = str(tmp)
    sb.env = env
    fake_dir = tmp / f"wezterm-parallel-{os.getuid()}"
    impostor = subprocess.Popen(
        as_nobody("-c", IMPOSTOR, os.fspath(fake_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    problems: list[str] = []
    results = []
    got, secret = 0, False
    try:
        ready = impostor.stdout.readline().strip() if impostor.stdout else ""
        if ready != "ready":
            return ("impostor daemon (no XDG_RUNTIME_DIR)", "impostor did not start", "skipped")
        for args in (
            ("ping",),
            ("up",),
            ("status",),
            ("task", "submit", "deploy key is hunter2", "--wait"),
            ("send", "w0/p0", "secret text"),
        ):
            out = sb.wzp(*args, timeout=30)
            results.append(
                f"`wzp {args[0]}{' ' + args[1] if len(args) > 1 else ''}` rc {out.returncode}"
            )
            if out.returncode == 0:
                problems.append(f"`wzp {' '.join(args)}` succeeded against the impostor")
        captured = fake_dir / "captured"
        got = captured.stat().st_size if captured.exists() else 0
        secret = got > 0 and b"hunter2" in captured.read_bytes()
        if got:
            problems.append(
                f"the impostor captured {got} bytes"
                + (" including the task prompt with the secret" if secret else "")
            )
    finally:
        impostor.kill()
        impostor.wait()
        left = sb.close()
    if left:
        problems.append(f"{len(left)} processes left")
    return (
        "impostor daemon (no XDG_RUNTIME_DIR)",
        f"nobody owns <tmp>/wezterm-parallel-{os.getuid()} (0777) with a hub that says ok: "
        + ", ".join(results)
        + f"; bytes the impostor received: {got}"
        + (" (the prompt 'deploy key is hunter2' among them)" if secret else ""),
        held(problems),
    )


# -- 7. name injection ---------------------------------------------------------------------

BAD_NAMES = ["../x", "a/b", "a\nb", "\x1b[2J", "all", "A", "-x", "x" * 64, "a.b", "", " ",
             "a b", "w\u00e9", ".", "..", "a;rm -rf ~", "$(id)"]  # fmt: skip


def row_names(_sizes: Sizes) -> list[Row]:
    def single(pane: str) -> dict[str, Any]:
        return {
            "layout": "single",
            "panes": [{"name": pane, "position": "main", "command": SLEEPER}],
        }

    templates = {
        "t": grid_template(SLEEPER),
        "ta": single("b--c"),
        "tb": single("c"),
        "tl": single("y" * 63),
    }
    sb = Sandbox("wzptn", templates, max_workspaces=12)
    problems: list[str] = []
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        accepted = []
        for name in BAD_NAMES:
            try:
                sb.hub("workspace.create", name=name, template="t", dir=str(sb.work))
                accepted.append(name)
            except RequestFailed:
                pass
        pairs = [("a", "ta"), ("a--b", "tb"), ("x" * 63, "tl"), ("x" * 62 + "z", "tl")]
        for name, template in pairs:
            sb.hub("workspace.create", name=name, template=template, dir=str(sb.work))
        sb.wait_running(4, 30)
        time.sleep(0.5)
        sockets = sb.holder_sockets()
        want = ["a/b--c", "a--b/c", f"{'x' * 63}/{'y' * 63}", f"{'x' * 62}z/{'y' * 63}"]
        paths_ = [sockets.get(t, (0, None))[1] for t in want]
        distinct = len({p for p in paths_ if p is not None})
        answers: list[str | None] = []
        for target in want:
            if target not in sockets:
                answers.append(None)
                continue
            from wzp_supervisor.session import control

            os.environ["XDG_RUNTIME_DIR"] = str(sb.runtime)
            answer: str | None = None
            deadline = time.monotonic() + 10  # the holder may still be binding its socket
            while time.monotonic() < deadline:
                try:
                    answer = control.info(sockets[target][1], timeout=5).get("target")
                    break
                except control.SessionError as exc:
                    answer = f"error {exc}"
                    time.sleep(0.1)
            answers.append(answer)
        right = sum(a == t for a, t in zip(answers, want, strict=True))
        if accepted:
            problems.append(f"accepted names {accepted!r}")
        if distinct != len(want) or right != len(want):
            problems.append(
                f"sockets distinct {distinct}/{len(want)}, answer as own {right}: "
                + "; ".join(
                    f"{t[:12]} -> {str(a)[:60]}" for t, a in zip(want, answers, strict=True)
                )
            )
        figure = (
            f"{len(BAD_NAMES)} hostile workspace names (path, newline, escape, 'all', dots, "
            f"64 chars, shell): {len(BAD_NAMES) - len(accepted)} refused; "
            f"a/b--c vs a--b/c and two 63+63-char targets: {distinct}/{len(want)} distinct "
            f"holder sockets, {right}/{len(want)} answer as their own target"
        )
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
    return [("name injection", figure, held(problems))]


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
        survivors = [_describe(p) for p in sb.processes()]
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
            p for p in agents.get("w0/crash", []) if _safe_cmdline(p).startswith("sleep 100000")
        ]
        current = sb.running_pids().get("w0/crash")
        mine = set()
        if current:
            with contextlib.suppress(psutil.Error):
                mine = {c.pid for c in psutil.Process(current).children(recursive=True)}
        leaked = [p for p in leaked if p.pid not in mine]
        nohup_agents = [p for p in agents.get("w0/nohup", []) if "SIGHUP" in _safe_cmdline(p)]
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
        left = sb.close()
    if left:
        problems.append(f"{len(left)} survived `wzp down`")
    return [("leaks under PID 1 (crash children, holder kill)", figure, held(problems))]


def _describe(proc: psutil.Process) -> str:
    """pid, pane (WZP_AGENT), parent and command line of a process."""
    try:
        agent = proc.environ().get("WZP_AGENT", "?")
        return f"pid {proc.pid} of {agent} (ppid {proc.ppid()}): {' '.join(proc.cmdline())[:50]}"
    except psutil.Error:
        return f"pid {proc.pid} (gone)"


def _safe_cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


# -- 9. full disk --------------------------------------------------------------------------


def row_full_disk(_sizes: Sizes) -> list[Row]:
    sb = Sandbox("wzptf", {"t": grid_template(SLEEPER)})
    state_root = sb.root / "s"
    state_root.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(state_root)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        sb.close()
        return [("full disk", "2 MiB tmpfs", f"skipped: mount refused ({mount.stderr.strip()})")]
    problems: list[str] = []
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(1)
        sb.wait_running(4, 30)
        filler = state_root / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for block in (65536, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * block)
        finally:
            os.close(fd)
        codes = {}
        for name in ("w1", "w2", "w3"):
            out = sb.wzp("workspace", "create", name, "-t", "t", "--dir", str(sb.work))
            codes[name] = (out.returncode, (out.stderr or "").strip().splitlines()[-1:])
        alive = sb.ping() is not None
        errors = (
            [e for e in sb.hub("events.recent", limit=500)["events"] if e.get("event") == "Error"]
            if alive
            else []
        )
        if not alive:
            problems.append("the daemon died on the full disk")
        sb.kill_daemon()
        filler.unlink()
        up = sb.wzp("up")
        names = (
            [w["name"] for w in sb.hub("workspace.list")["workspaces"]]
            if up.returncode == 0
            else []
        )
        acked = ["w0"] + [n for n, (rc, _) in codes.items() if rc == 0]
        lost = [n for n in acked if n not in names]
        backups = list((sb.state_dir / "backups").glob("*")) if sb.state_dir.exists() else []
        empty = [b for b in backups if b.stat().st_size == 0]
        if lost:
            problems.append(f"acknowledged then lost: {lost}")
        if empty:
            problems.append(f"{len(empty)} empty backup files")
        if len(backups) > 5:
            problems.append(f"{len(backups)} backups kept (limit 5)")
        refused = [n for n, (rc, _) in codes.items() if rc != 0]
        reason = next((msg[0][:70] for rc, msg in codes.values() if rc and msg), "")
        figure = (
            f"2 MiB tmpfs as the state dir, filled: 3 creates -> {3 - len(refused)} acknowledged, "
            f"{len(refused)} refused ({reason!r}); {len(errors)} error events; after SIGKILL + "
            f"`up` with space again: {len(acked) - len(lost)}/{len(acked)} acknowledged "
            f"workspaces back, {len(backups)} backups ({len(empty)} empty)"
        )
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
    return [("full disk: create refused, not lost", figure, held(problems))]


# -- 10. tasks across a daemon SIGKILL -----------------------------------------------------


def row_tasks(sizes: Sizes) -> list[Row]:
    sb = one_workspace("wzptt")
    problems: list[str] = []
    try:
        sb.create_workspaces(1)
        sb.wait_running(4, 30)
        ids = []
        with HubClient(sb.hub_path, timeout=30) as client:
            for i in range(sizes.tasks):
                reply = client.request("task.submit", prompt=f"bench task {i}", workspace="w0")
                ids.append(reply["task"]["id"])
        sb.kill_daemon()  # right after the last acknowledgement
        up = sb.wzp("up")
        if up.returncode != 0:
            raise RuntimeError(f"wzp up failed: {up.stderr.strip()}")
        listed = {t["id"] for t in sb.hub("task.list")["tasks"]}
        back = sum(1 for i in ids if i in listed)
        new = sb.hub("task.submit", prompt="after restart", workspace="w0")["task"]["id"]
        if back != len(ids):
            problems.append(f"{len(ids) - back} acknowledged tasks lost")
        if new in ids:
            problems.append(f"task id {new} reused")
        figure = (
            f"{len(ids)} tasks submitted, daemon SIGKILLed right after the last reply: "
            f"{back}/{len(ids)} back after `up`; next id {new} "
            f"({'reused!' if new in ids else 'not reused'})"
        )
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
    return [("tasks across daemon SIGKILL", figure, held(problems))]


# -- 11. terminal escapes and undecodable arguments ----------------------------------------

HOSTILE = "early \x1b]52;c;aGk=\x07\x1b]0;OWNED\x07\x1b[2J\x1b[201~\r SECOND \x9b31m"


def row_escapes(_sizes: Sizes) -> list[Row]:
    sb = one_workspace("wzpte")
    problems: list[str] = []
    try:
        odd_dir = sb.work / "repo\x1b]0;OWNED\x07\x1b[2J"
        odd_dir.mkdir()
        sb.hub("workspace.create", name="w0", template="t", dir=str(odd_dir))
        sb.wait_running(4, 30)
        task = sb.hub("task.submit", prompt=HOSTILE, workspace="w0")["task"]["id"]
        views = {
            "task list": sb.wzp("task", "list"),
            "task show": sb.wzp("task", "show", task),
            "status": sb.wzp("status"),
            "workspace list": sb.wzp("workspace", "list"),
            "list": sb.wzp("list"),
        }
        raw = [
            name
            for name, out in views.items()
            if any(c in out.stdout + out.stderr for c in ("\x1b", "\x07", "\x9b"))
        ]
        bad = sb.wzp("task", "submit", os.fsdecode(b"bad\xffbyte"))
        traceback = "Traceback" in bad.stderr
        if raw:
            problems.append(f"raw control bytes printed by wzp {', '.join(raw)}")
        if traceback:
            problems.append("`wzp task submit $'bad\\xffbyte'` ends in a traceback")
        if sb.ping() is None:
            problems.append("daemon died")
        figure = (
            f"a task prompt and a workspace dir holding OSC 52/OSC 0/CSI 2J/paste-end/C1: "
            f"{len(views) - len(raw)}/{len(views)} views print no control byte "
            f"({', '.join(raw) or 'none'} do); `wzp task submit $'bad\\xffbyte'` -> rc "
            f"{bad.returncode}{', traceback' if traceback else ', no traceback'}"
        )
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} left after down")
    return [("terminal escapes, undecodable argv", figure, held(problems))]


# -- 12. secret leakage --------------------------------------------------------------------


def row_secrets(_sizes: Sizes) -> list[Row]:
    """A key given as ``${VAR}`` must reach the agents and nothing written or printed."""
    secret = "sk-bench-" + os.urandom(12).hex()
    sb = Sandbox(
        "wzpts",
        # panes that are not Claude agents take only their own environment
        {"t": grid_template(SLEEPER, environment={"ANTHROPIC_API_KEY": "${BENCH_KEY}"})},
        extra={
            "processes": {"claude_code": {"environment": {"ANTHROPIC_API_KEY": "${BENCH_KEY}"}}}
        },
    )
    sb.env["BENCH_KEY"] = secret
    problems: list[str] = []
    try:
        if sb.wzp("up").returncode != 0:
            raise RuntimeError("wzp up failed")
        sb.create_workspaces(2)
        sb.wait_running(8, 30)
        reached = 0
        for pids in sb.wait_agents(8).values():
            with contextlib.suppress(psutil.Error, IndexError):
                reached += psutil.Process(pids[0]).environ().get("ANTHROPIC_API_KEY") == secret
        sb.hub("task.submit", prompt="hello", workspace="w0")
        sb.kill_daemon()
        sb.wzp("up")
        sb.wait_running(8, 30)
        printed = {
            " ".join(args): sb.wzp(*args)
            for args in (
                ("config", "show"),
                ("config", "show", "--format", "json"),
                ("status", "--json"),
                ("list", "--json"),
                ("workspace", "list", "--json"),
                ("task", "list"),
                ("doctor",),
            )
        }
        leaks = [k for k, out in printed.items() if secret in out.stdout + out.stderr]
        sb.wzp("down")
        files = scanned = 0
        for path in sb.root.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    files += 1
                    data = path.read_bytes()
                    scanned += len(data)
                    if secret.encode() in data:
                        leaks.append(os.fspath(path.relative_to(sb.root)))
        if reached != 8:
            problems.append(f"the key reached {reached}/8 agents")
        if leaks:
            problems.append(f"the key appears in {leaks}")
        figure = (
            f"ANTHROPIC_API_KEY as ${{BENCH_KEY}}: in {reached}/8 agents' environment; "
            f"{len(leaks)} hits in {len(printed)} CLI outputs and {files} files "
            f"({scanned / 2**20:.1f} MiB: state, backups, logs, runtime, config) after a crash "
            f"and `up`"
        )
    finally:
        left = sb.close()
    if left:
        problems.append(f"{len(left)} outlived `wzp down`")
    return [("secret leakage", figure, held(problems))]


# -- main ----------------------------------------------------------------------------------

ROWS: dict[str, Callable[[Sizes], list[Row]]] = {
    "load": row_load,
    "churn": row_churn_crash,
    "daemon": row_daemon_kill,
    "reload": row_reload_crash,
    "state": row_corrupt_state,
    "hub": row_hub,
    "fds": row_fd_limits,
    "attach": row_attach,
    "users": row_other_user,
    "names": row_names,
    "down": row_down,
    "leaks": row_leaks,
    "disk": row_full_disk,
    "tasks": row_tasks,
    "escapes": row_escapes,
    "secrets": row_secrets,
}


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the original run's sizes")
    parser.add_argument("--only", default="", help=f"comma-separated rows of: {', '.join(ROWS)}")
    parser.add_argument(
        "--deadline", type=int, default=900, help="seconds before it stops (and cleans up)"
    )
    args = parser.parse_args()
    install_exit_handlers(args.deadline)
    sizes = Sizes(load_seconds=60.0) if args.full else Sizes()
    limit = raise_nofile(max(8192, sizes.slowloris * 2))
    chosen = [r for r in args.only.split(",") if r] or list(ROWS)
    print(
        f"# bench_trust  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
        f"load {os.getloadavg()[0]:.2f}  uid {os.getuid()}  ulimit -n {limit}  "
        f"sizes: {sizes.load_agents} agents x {sizes.load_seconds:g} s of kills every "
        f"{sizes.kill_interval * 1000:.0f} ms, {sizes.slowloris} slowloris, {sizes.tasks} tasks"
    )
    print()
    print("| scenario | figure | verdict | s (whole scenario) |")
    print("|---|---|---|---|")
    defects = []
    for name in chosen:
        start = time.perf_counter()
        progress(f"row {name}")
        try:
            rows = ROWS[name](sizes)
        except Exception as exc:  # one broken scenario must not hide the others
            rows = [(name, f"the scenario could not run: {type(exc).__name__}: {exc}", "error")]
        took = time.perf_counter() - start
        for what, figure, verdict in rows:
            print(f"| {md(what)} | {md(figure)} | {md(verdict)} | {took:.0f} |", flush=True)
            if verdict.startswith("DEFECT"):
                defects.append(what)
    print()
    print(f"defects: {', '.join(defects) if defects else 'none'}")


if __name__ == "__main__":
    main()

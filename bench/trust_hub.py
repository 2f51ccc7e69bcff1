"""Trust rows about the hub socket: the size cap, wrongly-typed requests and garbage, slowloris
connections, a small open-files limit."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_common import (
    SLEEPER,
    Row,
    Sizes,
    close_checked,
    held,
    one_workspace,
)
from wzp_harness import (
    PY,
    Sandbox,
    grid_template,
)

from wzp_supervisor.hub_schema import SCHEMAS

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


CONNECTING_CLIENT = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
greeting = sys.argv[3].encode() if len(sys.argv) > 3 else b""
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        if greeting:
            s.send(greeting)
        socks.append(s)
    except OSError:
        s.close()
print(len(socks), flush=True)
sys.stdin.readline()
"""
"""Opens COUNT connections to the hub at PATH (each sends GREETING, when given), prints how many
it holds, and keeps them until a line comes on stdin."""

SLOW_CLIENT = (
    CONNECTING_CLIENT
    + r"""
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
)
"""Connections that each send half a request and never the rest; after the stdin line it
prints how many the daemon still keeps open."""
HALF_REQUEST = '{"v":1,"id":1,"type":"pi'


def slowloris(sb: Sandbox, sizes: Sizes, daemon: int | None) -> Row:
    problems: list[str] = []
    per = sizes.slowloris // sizes.slowloris_procs
    clients = [
        subprocess.Popen(
            [PY, "-c", SLOW_CLIENT, str(sb.hub_path), str(per), HALF_REQUEST],
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
                [PY, "-c", CONNECTING_CLIENT, str(sb.hub_path), "100"],
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
        close_checked(sb, problems)
    return [("open-files limit: budget and idle connections", figure, held(problems))]

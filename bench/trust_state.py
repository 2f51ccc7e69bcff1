"""Trust rows about what is saved and shown: corrupt state files, a full disk, tasks across a
daemon SIGKILL, terminal escapes and undecodable arguments, secret leakage."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
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
    Sandbox,
    grid_template,
)

from wzp_supervisor.cli.hub_client import HubClient

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
        close_checked(sb, problems)
    figure = (
        f"{len(CORRUPTIONS)} corrupt state files: daemon started {started}/{len(CORRUPTIONS)}, "
        f"workspaces recovered from backup {recovered}/{len(CORRUPTIONS)}, error event "
        f"{warned}/{len(CORRUPTIONS)}; stray files in backups/: "
        f"{'recovered' if stray_ok else 'NOT recovered'}"
    )
    return [("corrupt state bytes", figure, held(problems))]


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
        close_checked(sb, problems)
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
        close_checked(sb, problems)
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
        close_checked(sb, problems)
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
        close_checked(sb, problems)
    return [("secret leakage", figure, held(problems))]

"""Trust rows about session holders and who may reach them: attach floods and bad frames,
another user on our sockets, an impostor daemon, hostile names."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_common import (
    SLEEPER,
    SYSTEM_PY,
    Row,
    Sizes,
    close_checked,
    held,
    one_workspace,
)
from wzp_harness import (
    RequestFailed,
    Sandbox,
    grid_template,
)

from wzp_supervisor.session import wire

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
        close_checked(sb, problems)
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
        close_checked(sb, problems)
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
        close_checked(sb, problems)
    return [("name injection", figure, held(problems))]

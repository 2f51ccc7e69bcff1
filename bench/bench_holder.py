"""Benchmark of the session holder: throughput, keystroke echo latency, idle cost.

Prints figures and ratios measured in the same run (no assertions):

* 100 MB of program output through holder + ``wzp attach`` (in a PTY) vs the same ``cat`` in a
  raw PTY (target ≥ 0.5×);
* keystroke echo round trip (``stty raw -echo; cat``) in a raw PTY, through the holder's
  socket, and through holder + ``wzp attach``: p50/p99 and what the holder adds (target p99
  < 5 ms);
* holder RSS and CPU while idle, before and after a screen was first needed (target ≤ 20 MiB,
  ~0 %).

Run: ``.venv/bin/python bench/bench_holder.py [--megabytes 100] [--keys 500]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

from wzp_supervisor import paths
from wzp_supervisor.session import control, wire

LOGIN = "import os, sys; os.login_tty(0); os.execvp(sys.argv[1], sys.argv[1:])"
MARK = b"--BENCH-DONE--"


class Pty:
    """A process on a fresh PTY whose master the benchmark reads."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOGIN, *argv], stdin=slave, stdout=slave, stderr=slave, env=env
        )
        os.close(slave)

    def read_until(self, marker: bytes, timeout: float = 300.0) -> int:
        """Read until ``marker``; number of bytes read."""
        total = 0
        tail = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(self.master, 1 << 20)
            except OSError:
                data = b""
            if not data:
                break
            total += len(data)
            if marker in tail + data:
                return total
            tail = data[-len(marker) :]
        raise RuntimeError(f"did not see {marker!r}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)


class Bench:
    """Isolated XDG dirs and the holders started in them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = dict(os.environ)
        for var, sub in (
            ("XDG_RUNTIME_DIR", "r"),
            ("XDG_STATE_HOME", "s"),
            ("XDG_CONFIG_HOME", "c"),
        ):
            (root / sub).mkdir(mode=0o700)
            self.env[var] = os.environ[var] = str(root / sub)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ptys: list[Pty] = []

    def holder(self, name: str, argv: Sequence[str]) -> tuple[subprocess.Popen[bytes], Path]:
        sock = paths.session_socket("bench", name)
        proc = subprocess.Popen(
            [sys.executable, "-m", "wzp_supervisor.session.holder", "--target", f"bench/{name}",
             "--socket", str(sock), "--log", str(paths.pane_log("bench", name)),
             "--cols", "120", "--rows", "40", "--", *argv],
            env=self.env,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 20
        while True:
            try:
                control.info(sock, timeout=2)
                return proc, sock
            except control.SessionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("holder did not start") from None
                time.sleep(0.02)

    def pty(self, argv: Sequence[str]) -> Pty:
        pty = Pty(argv, self.env)
        self.ptys.append(pty)
        return pty

    def attach(self, name: str) -> Pty:
        return self.pty([sys.executable, "-m", "wzp_supervisor", "attach", f"bench/{name}"])

    def close(self) -> None:
        for pty in self.ptys:
            pty.close()
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def bench_env() -> Iterator[Bench]:
    root = Path(tempfile.mkdtemp(prefix="wzpb", dir="/tmp"))
    bench = Bench(root)
    try:
        yield bench
    finally:
        bench.close()
        shutil.rmtree(root, ignore_errors=True)


def make_payload(path: Path, megabytes: int) -> int:
    chunk = base64.encodebytes(os.urandom(3 * 1024 * 1024 // 4))  # 1 MiB-ish of text lines
    with open(path, "wb") as out:
        written = 0
        while written < megabytes * 1_000_000:
            out.write(chunk)
            written += len(chunk)
    return written


def throughput(bench: Bench, megabytes: int) -> None:
    payload = bench.root / "payload"
    size = make_payload(payload, megabytes)
    script = f"read go; cat {payload}; printf '\\n{MARK.decode()}\\n'; exec sleep 600"

    raw = bench.pty(["sh", "-c", f"cat {payload}; printf '\\n{MARK.decode()}\\n'"])
    start = time.perf_counter()
    raw_bytes = raw.read_until(MARK)
    raw_time = time.perf_counter() - start

    _, sock = bench.holder("wire", ["sh", "-c", script])
    wire_time, wire_bytes = stream_socket(sock)

    _, sock = bench.holder("tput", ["sh", "-c", script])
    view = bench.attach("tput")
    while control.info(sock)["attachers"] < 1:
        time.sleep(0.02)
    start = time.perf_counter()
    os.write(view.master, b"\r")
    held_bytes = view.read_until(MARK)
    held_time = time.perf_counter() - start

    raw_rate = raw_bytes / raw_time / 1e6
    held_rate = held_bytes / held_time / 1e6
    wire_rate = wire_bytes / wire_time / 1e6
    print(f"throughput: payload {size / 1e6:.0f} MB of text lines")
    print(f"  raw PTY (cat)             {raw_time:6.2f} s  {raw_rate:7.1f} MB/s")
    print(
        f"  holder socket (wire)      {wire_time:6.2f} s  {wire_rate:7.1f} MB/s"
        f"  ({wire_rate / raw_rate:.2f}x)"
    )
    print(f"  holder + wzp attach       {held_time:6.2f} s  {held_rate:7.1f} MB/s")
    print(f"  ratio holder/raw          {held_rate / raw_rate:6.2f}x   (target >= 0.5x)")


def stream_socket(sock_path: Path) -> tuple[float, int]:
    """Attach over the wire protocol, start the output, time it until MARK; (s, bytes)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(sock_path))
    sock.sendall(wire.encode_json(wire.Frame.HELLO, {"mode": "attach", "cols": 120, "rows": 40}))
    decoder = wire.Decoder()
    start = time.perf_counter()
    sock.sendall(wire.encode(wire.Frame.INPUT, b"\r"))
    total = 0
    tail = b""
    while True:
        for kind, payload in decoder.feed(sock.recv(1 << 20)):
            if kind != wire.Frame.OUTPUT:
                continue
            total += len(payload)
            if MARK in tail + payload:
                sock.close()
                return time.perf_counter() - start, total
            tail = payload[-len(MARK) :]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:6.3f} ms  p99 {p99:6.3f} ms"


def echo_fd(fd: int, keys: int) -> list[float]:
    """Round trips of single keys written to ``fd`` and echoed back on it."""
    samples = []
    for i in range(keys):
        key = bytes([ord("a") + i % 26])
        start = time.perf_counter()
        os.write(fd, key)
        got = b""
        while key not in got:
            select.select([fd], [], [], 5.0)
            got += os.read(fd, 4096)
        samples.append(time.perf_counter() - start)
    return samples


def echo_socket(sock_path: Path, keys: int) -> list[float]:
    """Round trips through the holder's socket, speaking the wire protocol directly."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(sock_path))
    sock.sendall(wire.encode_json(wire.Frame.HELLO, {"mode": "attach", "cols": 120, "rows": 40}))
    decoder = wire.Decoder()
    first = decoder.feed(sock.recv(1 << 20))
    assert first and first[0][0] == wire.Frame.REDRAW
    samples = []
    for i in range(keys):
        key = bytes([ord("a") + i % 26])
        start = time.perf_counter()
        sock.sendall(wire.encode(wire.Frame.INPUT, key))
        got = b""
        while key not in got:
            for kind, payload in decoder.feed(sock.recv(65536)):
                if kind == wire.Frame.OUTPUT:
                    got += payload
        samples.append(time.perf_counter() - start)
    sock.close()
    return samples


def latency(bench: Bench, keys: int) -> None:
    echo = ["sh", "-c", "stty raw -echo; echo READY; exec cat"]
    raw = bench.pty(echo)
    raw.read_until(b"READY")
    raw_samples = echo_fd(raw.master, keys)

    _, sock = bench.holder("echo", echo)
    time.sleep(0.3)  # let stty run before measuring
    wire_samples = echo_socket(sock, keys)
    view = bench.attach("echo")
    view.read_until(b"READY", timeout=20)
    attach_samples = echo_fd(view.master, keys)

    added = statistics.median(wire_samples) - statistics.median(raw_samples)
    print(f"keystroke echo round trip ({keys} keys, `stty raw -echo; cat`)")
    print(f"  raw PTY                   {percentiles(raw_samples)}")
    print(f"  holder socket (wire)      {percentiles(wire_samples)}")
    print(f"  holder + wzp attach (PTY) {percentiles(attach_samples)}")
    print(f"  added by the holder p50   {added * 1000:6.3f} ms   (target p99 < 5 ms)")


def idle(bench: Bench, seconds: float) -> None:
    proc, sock = bench.holder("idle", ["sleep", "3600"])
    holder = psutil.Process(proc.pid)

    def measure() -> tuple[float, float]:
        time.sleep(0.5)
        before = holder.cpu_times()
        start = time.monotonic()
        time.sleep(seconds)
        after = holder.cpu_times()
        cpu = (after.user + after.system - before.user - before.system) / (time.monotonic() - start)
        return holder.memory_info().rss / 2**20, cpu * 100

    rss, cpu = measure()
    print(f"idle holder over {seconds:g} s (`sleep 3600`, target <= 20 MiB, ~0 % CPU)")
    print(f"  never viewed              RSS {rss:5.1f} MiB  CPU {cpu:5.2f} %")
    control.peek(sock)
    rss, cpu = measure()
    print(f"  after a peek (pyte loaded) RSS {rss:5.1f} MiB  CPU {cpu:5.2f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with bench_env() as bench:
        throughput(bench, args.megabytes)
    with bench_env() as bench:
        latency(bench, args.keys)
    with bench_env() as bench:
        idle(bench, args.idle_seconds)


if __name__ == "__main__":
    main()

"""Output logs of sessions: size rotation by the holder, `wzp logs` -n, --plain and -f."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.session_support import WAIT, SessionEnv, session_env, wait_for
from wzp_supervisor.session import control
from wzp_supervisor.session.logfile import RotatingLog, last_lines, log_files

PRINTER = "for i in range(1, 5001): print(f'\\x1b[32mline-{i:05d}\\x1b[0m')"


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def test_rotating_log_keeps_the_newest_backups(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RotatingLog(path, max_bytes=100, backups=2)
    for i in range(40):
        log.write(b"%02d-456789\n" % i)  # 10 bytes each: a new file every 10 writes
    log.close()
    assert [p.name for p in log_files(path)] == ["x.log.2", "x.log.1", "x.log"]
    assert path.read_bytes().startswith(b"30-")
    assert Path(f"{path}.2").read_bytes().startswith(b"10-")
    assert last_lines(path, 12).splitlines()[0] == b"28-456789"
    assert last_lines(path, 0) == b""


def test_holder_log_rotates_and_logs_reads_across_files(senv: SessionEnv) -> None:
    proc = senv.start_holder(
        "t/a", [sys.executable, "-c", PRINTER], "--log-max-bytes", "20000", "--log-backups", "2",
        wait=False,
    )  # fmt: skip
    assert proc.wait(WAIT) == 0
    path = senv.log("t/a")
    assert [p.name for p in log_files(path)] == ["a.log.2", "a.log.1", "a.log"]
    assert all(p.stat().st_size <= 20000 + 65536 for p in log_files(path))
    assert (path.stat().st_mode & 0o777) == 0o600
    tail = senv.wzp("logs", "t/a", "-n", "3", "--plain")
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout == b"line-04998\nline-04999\nline-05000\n"
    raw = senv.wzp("logs", "t/a", "-n", "1")
    assert raw.stdout == b"\x1b[32mline-05000\x1b[0m\r\n"
    everything = senv.wzp("logs", "t/a", "--plain").stdout.decode().splitlines()
    numbers = [int(line[5:]) for line in everything[1:]]  # the first may be a partial line
    assert numbers == list(range(numbers[0], 5001))  # contiguous up to the end
    assert numbers[0] > 1  # the oldest output was rotated away


def test_logs_follow(senv: SessionEnv) -> None:
    fifo_script = "import sys\nfor line in sys.stdin: print('echo:' + line.strip(), flush=True)"
    senv.start_holder("t/a", [sys.executable, "-u", "-c", fifo_script])
    follower = subprocess.Popen(
        [sys.executable, "-m", "wzp_supervisor", "logs", "t/a", "-f", "--plain"],
        env=senv.env, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        log = str(senv.log("t/a"))
        watched = psutil.Process(follower.pid)
        wait_for(lambda: any(f.path == log for f in watched.open_files()), "logs -f to open")
        assert follower.stdout is not None
        seen: list[bytes] = []

        def follow_until(wanted: bytes) -> None:
            while wanted not in seen:  # bounded by the test timeout
                line = follower.stdout.readline()  # type: ignore[union-attr]
                assert line, "logs -f ended"
                seen.append(line)

        # the second line is typed only after the first answer, so the terminal's echo of
        # the typing cannot interleave with the program's output
        control.send_text(senv.socket("t/a"), "first", enter=True)
        follow_until(b"echo:first\n")
        control.send_text(senv.socket("t/a"), "second", enter=True)
        follow_until(b"echo:second\n")
        assert seen.index(b"echo:first\n") < seen.index(b"echo:second\n")
    finally:
        follower.kill()
        follower.wait(WAIT)
        if follower.stdout:
            follower.stdout.close()

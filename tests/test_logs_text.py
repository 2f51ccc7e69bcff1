"""`wzp logs` shows text a person can read: no Python bytes reprs, and `--plain` keeps the
spaces a TUI makes with cursor movement (replayed through the screen model)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.session_support import WAIT, SessionEnv, session_env

# what a TUI such as Claude Code's writes: words placed with cursor-forward (CSI n C),
# a line redrawn in place after cursor-up, and a colour escape
TUI = (
    "import sys, time\n"
    "w = sys.stdout.write\n"
    "w('\\x1b[1m\\u25cf\\x1b[0m\\x1b[1CStub\\x1b[1Creply\\x1b[1Cto:\\x1b[1Cstatus\\x1b[1Ccheck\\r\\n')\n"
    "w('spinner 1\\r\\n')\n"
    "w('\\x1b[1A\\x1b[2K\\rdone in 2s\\r\\n')\n"
    "w('\\x1b]0;title\\x07last line\\r\\n')\n"
    "sys.stdout.flush()\n"
)


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def test_logs_plain_keeps_the_spaces_of_a_tui(senv: SessionEnv) -> None:
    proc = senv.start_holder("t/tui", [sys.executable, "-c", TUI], wait=False)
    assert proc.wait(WAIT) == 0
    result = senv.wzp("logs", "t/tui", "--plain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[:3] == ["\u25cf Stub reply to: status check", "done in 2s", "last line"]
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    tail = senv.wzp("logs", "t/tui", "--plain", "--lines", "2")
    assert tail.stdout.decode().splitlines()[:2] == ["done in 2s", "last line"]


def test_logs_of_a_program_that_does_not_exist_names_it_plainly(senv: SessionEnv) -> None:
    proc = senv.start_holder("t/gone", ["claude-code-nope"], wait=False)
    assert proc.wait(WAIT) == 127
    for args in ((), ("--plain",)):
        out = senv.wzp("logs", "t/gone", *args).stdout.decode()
        assert "claude-code-nope" in out
        assert "No such file or directory" in out
        assert "b'" not in out and 'b"' not in out


def test_plain_text_of_chunks_mixing_lines_and_cursor_movement() -> None:
    from wzp_supervisor.cli.session_cmds import _bulk_plain

    chunks = [
        b"\x1b[31mred\x1b[0m\tx\r\nline2\r\npart",
        b"ial\r\n",
        b"\x1b[1Cmoved\x1b[1Cright\r\n",
        b"plain \x1b[1magain\x1b[0m\r\nlast, unterminated",
    ]
    lines = [line for part in _bulk_plain(chunks) for line in part]
    assert lines == [
        "red\tx",
        "line2",
        "partial",
        " moved right",
        "plain again",
        "last, unterminated",
    ]


def test_a_write_larger_than_a_file_is_spread_over_rotated_files(tmp_path: Path) -> None:
    from wzp_supervisor.session.logfile import RotatingLog, log_files, read_all

    path = tmp_path / "big.log"
    log = RotatingLog(path, max_bytes=100, backups=5)
    data = bytes(range(256)) * 2  # one write of 512 bytes, as a holder's coalesced read
    log.write(data)
    log.write(b"tail")
    log.close()
    files = log_files(path)
    assert [p.stat().st_size for p in files] == [100, 100, 100, 100, 100, 16]
    assert b"".join(read_all(path)) == data + b"tail"

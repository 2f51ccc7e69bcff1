"""The session holder's command line: ``Options`` and ``parse_args``.

See ``holder`` for the command it belongs to.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from wzp_supervisor.session.logfile import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES
from wzp_supervisor.session.process import RLIMITS
from wzp_supervisor.session.wire import MAX_COLS, MAX_ROWS


class Options(NamedTuple):
    """Parsed command line of the holder."""

    target: str
    socket: Path
    log: Path
    argv: list[str]
    rlimits: dict[str, int]
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_backups: int = DEFAULT_BACKUPS
    cols: int = 120
    rows: int = 40
    agent: str | None = None
    session_file: Path | None = None
    cwd: Path | None = None


def parse_args(args: Sequence[str]) -> Options:
    """Parse the holder's command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="wzp-holder", description="Hold a program in a PTY.")
    parser.add_argument("--target", required=True)
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--log-max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    parser.add_argument("--log-backups", type=int, default=DEFAULT_BACKUPS)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--agent", choices=("claude", "none"), default=None)
    parser.add_argument("--session-file", type=Path, default=None)
    parser.add_argument("--rlimit", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--cwd", type=Path, default=None)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(list(args))
    argv = list(ns.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        parser.error("no program given (put it after --)")
    if not (0 < ns.cols <= MAX_COLS and 0 < ns.rows <= MAX_ROWS):
        parser.error(f"--cols must be from 1 to {MAX_COLS} and --rows from 1 to {MAX_ROWS}")
    if ns.agent == "claude" and ns.session_file is None:
        parser.error("--agent claude needs --session-file")
    rlimits: dict[str, int] = {}
    for item in ns.rlimit:
        name, _, value = item.partition("=")
        if name not in RLIMITS or not value.isdigit():
            parser.error(f"bad --rlimit {item!r} (want nofile|nproc|as=INTEGER)")
        rlimits[name] = int(value)
    return Options(
        target=ns.target,
        socket=ns.socket,
        log=ns.log,
        argv=argv,
        log_max_bytes=ns.log_max_bytes,
        log_backups=ns.log_backups,
        cols=ns.cols,
        rows=ns.rows,
        agent=None if ns.agent == "none" else ns.agent,
        session_file=ns.session_file,
        cwd=ns.cwd,
        rlimits=rlimits,
    )

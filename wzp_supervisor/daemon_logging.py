"""Daemon logging: JSON lines to a size-rotated file, readable lines on stderr.

Under systemd stderr goes to the journal; in the foreground it is the terminal; started by
``wzp up`` it is ``logs/daemon.out`` in the state dir, which is then rotated by size too.
Everything here is private to the user: the state and log directories are 0700 and every log
file 0600. A line repeated in a burst (a failing ``accept()``, say) is written once per
interval with a count, so no loop can fill the disk with one message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wzp_supervisor import paths

__all__ = [
    "DEFAULT_BACKUPS",
    "DEFAULT_MAX_BYTES",
    "JsonLineFormatter",
    "RepeatFilter",
    "daemon_out_path",
    "make_private",
    "open_daemon_out",
    "private_dir",
    "setup_logging",
]

#: Size at which a daemon log file is rotated, and how many old files are kept.
DEFAULT_MAX_BYTES = 10_485_760
DEFAULT_BACKUPS = 3

#: A line repeated within this many seconds is written once, then counted.
DEFAULT_REPEAT_INTERVAL = 60.0

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC

# Attributes of a LogRecord that are not extra fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "fields":
                entry[key] = value
        # ``extra={"fields": {...}}`` sets keys LogRecord reserves (``process``, ``message``…)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# --------------------------------------------------------------------------- private files


def daemon_out_path() -> Path:
    """Where ``wzp up`` sends the daemon's stdout and stderr: ``<state>/logs/daemon.out``."""
    return paths.logs_dir() / "daemon.out"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) mode 0700; an existing one is tightened to 0700."""
    path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, _DIR_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` when it is ours and looser; never follows a symlink."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
        return
    if stat.S_IMODE(st.st_mode) != mode:
        with contextlib.suppress(OSError):  # a read-only file system: nothing more to do
            os.chmod(path, mode)


def make_private(state_dir: Path | None = None) -> None:
    """Make the state dir 0700, and its log tree and top-level files private.

    Fixes what ``wzp up`` under a 022 umask, or an older version, left readable by others:
    directories in ``logs/`` become 0700 and every regular file there 0600. Worktrees are
    not touched (the 0700 state dir already keeps them private).
    """
    root = state_dir or paths.state_dir()
    private_dir(root)
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                _tighten(Path(entry.path), _FILE_MODE)
    logs = root / "logs"
    if not logs.is_dir() or logs.is_symlink():
        return
    _tighten(logs, _DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(logs):
        for name in dirnames:
            _tighten(Path(dirpath) / name, _DIR_MODE)
        for name in filenames:
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    _tighten(path, _FILE_MODE)


def _rotate_files(path: Path, backups: int) -> None:
    """``path`` → ``path.1`` → … → ``path.<backups>`` (the oldest is dropped)."""
    if backups <= 0:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    for index in range(backups - 1, 0, -1):
        older = Path(f"{path}.{index}")
        if older.exists():
            os.replace(older, f"{path}.{index + 1}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, f"{path}.1")


def _open_private(path: Path) -> int:
    fd = os.open(path, _APPEND, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_daemon_out(
    max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS
) -> IO[bytes]:
    """Open ``daemon.out`` for appending, private (0600 in a 0700 dir), rotated when full.

    For ``wzp up``, which hands it to the daemon as stdout and stderr.
    """
    make_private()
    path = daemon_out_path()
    private_dir(path.parent)
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_size >= max_bytes:
            _rotate_files(path, backups)
    return os.fdopen(_open_private(path), "ab")


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose files are created 0600 whatever the umask."""

    def _open(self) -> Any:
        fd = _open_private(Path(self.baseFilename))
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)


class _RotatingStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr, which is the file ``path``; rotates it (stdout too) when full.

    The file is renamed away and a fresh private one takes its place on fds 1 and 2, so
    whatever else writes to stdout or stderr lands in the new file as well.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(sys.stderr)
        self.path = path
        self.max_bytes = max(1, max_bytes)
        self.backups = backups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if os.fstat(2).st_size >= self.max_bytes:
                self._rotate()
        except OSError:
            pass
        super().emit(record)

    def _rotate(self) -> None:
        self.flush()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        _rotate_files(self.path, self.backups)
        fd = _open_private(self.path)
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        finally:
            os.close(fd)


def _stderr_is(path: Path) -> bool:
    try:
        here = os.fstat(2)
        there = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(here.st_mode) and (here.st_dev, here.st_ino) == (
        there.st_dev,
        there.st_ino,
    )


# --------------------------------------------------------------------------- repeated lines


@dataclass
class _Seen:
    since: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Lets a message through once per ``interval`` seconds; repeats in between are counted.

    The next time the message passes it says how many were left out. A message is the same
    when its logger, level and text are. One instance may sit on several handlers: a record
    is decided once.
    """

    def __init__(
        self,
        interval: float = DEFAULT_REPEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1000,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self._seen: dict[tuple[str, int, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_wzp_repeat", None)
        if isinstance(decided, bool):
            return decided
        now = self.clock()
        try:
            text = record.getMessage()
        except Exception:  # a bad format string: let the handler report it
            return True
        key = (record.name, record.levelno, text[:500])
        seen = self._seen.get(key)
        if seen is None or now - seen.since >= self.interval:
            if seen is not None and seen.suppressed:
                record.msg = (
                    f"{text} [{seen.suppressed} more like this in the last {now - seen.since:.0f}s]"
                )
                record.args = None
            self._seen[key] = _Seen(now)
            if len(self._seen) > self.max_keys:
                self._prune(now)
            allowed = True
        else:
            seen.suppressed += 1
            allowed = False
        record._wzp_repeat = allowed
        return allowed

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._seen.items() if now - v.since >= self.interval]:
            del self._seen[key]
        while len(self._seen) > self.max_keys:  # all recent: forget the oldest
            del self._seen[next(iter(self._seen))]


# --------------------------------------------------------------------------- setup


def setup_logging(
    level: str = "info",
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL,
) -> None:
    """Log to stderr and to the rotated JSON-lines file in the state dir, privately.

    Tightens the state dir first (:func:`make_private`). When stderr is ``daemon.out`` (as
    ``wzp up`` starts the daemon) that file is rotated by size as well. Repeated lines are
    rate-limited on both.
    """
    make_private()
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for handler in list(root.handlers):
        root.removeHandler(handler)
    repeats = RepeatFilter(repeat_interval)
    out = daemon_out_path()
    stderr: logging.Handler = (
        _RotatingStderrHandler(out, max_bytes, backups)
        if _stderr_is(out)
        else logging.StreamHandler()
    )
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    stderr.addFilter(repeats)
    root.addHandler(stderr)
    log_file = paths.daemon_log()
    private_dir(log_file.parent)
    rotating = _PrivateRotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups)
    rotating.setFormatter(JsonLineFormatter())
    rotating.addFilter(repeats)
    root.addHandler(rotating)
    # circus logs every spawn and reap at info; keep its noise out of ours
    logging.getLogger("circus").setLevel(logging.WARNING)

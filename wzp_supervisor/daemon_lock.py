"""One daemon per user: an exclusive lock on a file in the runtime dir."""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import IO

from wzp_supervisor import paths


class AlreadyRunning(RuntimeError):
    """Another daemon holds the lock."""


def acquire_lock() -> IO[str]:
    """Take the per-user daemon lock or raise AlreadyRunning naming the holder.

    The lock file is removed by the daemon that holds it when it stops (``release_lock``),
    so a lock taken on a file that was removed meanwhile is retried on the new file.
    """
    runtime = paths.runtime_dir()
    while True:
        handle = open(paths.lock_file(), "a+")  # noqa: SIM115 - held for the daemon's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another wzp daemon is running (pid {holder}, runtime dir {runtime}); "
                "stop it with `wzp down`"
            ) from None
        try:
            current = os.stat(paths.lock_file())
        except FileNotFoundError:
            current = None
        mine = os.fstat(handle.fileno())
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        handle.close()  # locked a file its daemon removed on the way out: take the new one
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def release_lock(handle: IO[str]) -> None:
    """Remove the lock file while still holding it, then release it."""
    with contextlib.suppress(FileNotFoundError):
        paths.lock_file().unlink()
    handle.close()

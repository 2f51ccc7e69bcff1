"""Process and socket plumbing of the session holder.

Starting a program on a new PTY, binding the holder's private socket, checking a peer, and
exiting with a child's status. Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import signal
import socket
import stat
import struct
import sys
import termios
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from wzp_supervisor import paths

RLIMITS = {
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "as": resource.RLIMIT_AS,
}
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class StartError(Exception):
    """The holder cannot start (bad arguments, socket in use, program not startable)."""


def set_winsize(fd: int, cols: int, rows: int) -> None:
    """Set a PTY's size (the foreground process group gets SIGWINCH)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def spawn(
    argv: Sequence[str],
    cwd: Path | None,
    env: dict[str, str],
    rlimits: dict[str, int],
    cols: int,
    rows: int,
) -> tuple[int, int]:
    """Start ``argv`` on a new PTY as session leader; return (pid, non-blocking master fd)."""
    master, slave = os.openpty()
    set_winsize(master, cols, rows)
    err_r, err_w = os.pipe()  # close-on-exec: EOF means the exec worked
    pid = os.fork()
    if pid == 0:  # child
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            os.close(master)
            os.close(err_r)
            os.login_tty(slave)
            if cwd is not None:
                os.chdir(cwd)
            for name, value in rlimits.items():
                # soft and hard alike, so the agent cannot raise its own limit again
                _, hard = resource.getrlimit(RLIMITS[name])
                limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(RLIMITS[name], (limit, limit))
            os.execvpe(argv[0], list(argv), env)
        except BaseException as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            os.write(err_w, f"cannot start {argv[0]}: {why}".encode())
        finally:
            os._exit(127)
    os.close(slave)
    os.close(err_w)
    chunks = []
    while chunk := os.read(err_r, 4096):
        chunks.append(chunk)
    os.close(err_r)
    if chunks:
        os.waitpid(pid, 0)
        os.close(master)
        raise StartError(b"".join(chunks).decode(errors="replace"))
    os.set_blocking(master, False)
    return pid, master


def _check_private(directory: Path) -> None:
    try:
        paths.check_private_dir(directory)
    except paths.RuntimeDirError as exc:
        raise StartError(str(exc)) from None


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parent, each 0700."""
    if directory.is_dir():
        return
    _make_private_dirs(directory.parent)
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)


def listen(path: Path) -> socket.socket:
    """Bind the 0600 socket, in a 0700 directory; remove a dead holder's, refuse a live one's."""
    _make_private_dirs(path.parent)
    _check_private(path.parent)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise StartError(f"{path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # stale: its holder is gone
        else:
            raise StartError(f"another holder is serving {path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(16)
    listener.setblocking(False)
    return listener


def ignore_signal(_signum: int, _frame: object) -> None:
    """Signals are handled in the loop, through the wakeup fd."""


def quiet_std_streams() -> None:
    """Make stdout/stderr non-blocking when they are pipes or sockets (the daemon's log
    streams): a daemon that is gone or not reading can then never block the holder; what
    does not fit in the pipe is dropped."""
    for fd in (1, 2):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.set_blocking(fd, False)


def report(line: str) -> None:
    """One line to stderr if it can be written at once; never raises, never blocks long."""
    with contextlib.suppress(OSError):
        os.write(2, (line.rstrip("\n") + "\n").encode(errors="replace"))


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` even when stdout/stderr lead nowhere any more."""
    _flush_std_streams()
    os._exit(code)


def exit_like(status: int) -> NoReturn:
    """Exit with a child's wait status: same exit code, or the same terminating signal."""
    _flush_std_streams()
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.set_wakeup_fd(-1)
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status))

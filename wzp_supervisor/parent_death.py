"""Children that end with the process that started them (Linux ``PR_SET_PDEATHSIG``).

Pool workers talk to the daemon over pipes, so nothing could read a turn they finish after the
daemon is gone; an idle one exits when its stdin closes, but one in the middle of a turn would
run it to the end. :func:`ending_with_this_process` returns a ``preexec_fn`` that has the kernel
send the child SIGTERM when the thread that forked it ends. Elsewhere it does nothing (the next
daemon stops what is left).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1

_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def ending_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` for Popen that ties the child's life to this process's (None where the
    platform cannot)."""
    if _prctl is None:
        return None
    prctl = _prctl
    parent = os.getpid()

    def preexec() -> None:  # runs in the forked child: nothing here may take a lock
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the tie was made
            os._exit(1)

    return preexec

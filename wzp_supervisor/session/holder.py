"""The session holder: one PTY, one program, any number of clients on a Unix socket.

Run by the supervisor (once per interactive pane) as::

    python -m wzp_supervisor.session.holder --target WS/PANE --socket PATH --log PATH
        [--log-max-bytes 10485760] [--log-backups 3] [--cols 120] [--rows 40]
        [--agent claude --session-file PATH] [--rlimit nofile=N] [--cwd DIR] -- ARGV...

It starts ARGV in a new PTY (session leader, controlling tty, process-group leader), writes
everything it prints to the rotated log and the screen model, and serves the clients of
``wire``: attachers get a redraw of the current screen and then the live output; ``peek``,
``send`` and ``info`` get one reply. The PTY takes the size of the attacher that last typed or
resized. SIGTERM, SIGHUP and SIGINT are forwarded as SIGTERM to the program's process group.
When the program exits, attachers get an EXIT frame, the socket is removed and the holder
exits with the program's status (re-raising its terminating signal).

``info`` (HELLO ``{"mode": "info"}``) is how a daemon verifies and adopts a running holder
and how health checks see it. The one INFO reply::

    {"protocol": 1,                  # wire.PROTOCOL_VERSION
     "target": "ws/pane",
     "pid": 4242,                    # the holder
     "agent_pid": 4243,              # the program (also as "child_pid")
     "child_pid": 4243,
     "agent_create_time": 1764400000.12,   # as psutil's create_time(); null if unknown
     "agent_started_at": 1764400000.11,    # wall clock when the holder started it
     "session_id": "uuid" | null,    # the Claude Code session (--agent claude)
     "last_exit": null | {"code": int | null, "signal": int | null, "time": float},
     "cols": 120, "rows": 40,        # the screen (and PTY) size
     "attachers": 0, "clients": 1,   # attached views; open connections
     "bracketed_paste": false,
     "started": 1764400000.10}       # when the holder started

``last_exit`` is set once the program has exited while the holder is still up (it drains
output for a moment before it ends). The same facts stay behind in the agent record
``s/WS.PANE.agent`` (see ``agent_record``).

The holder never needs the daemon once started: it sends it nothing but its stdout/stderr
(pipes to the daemon's log streams), made non-blocking so that a daemon that died or stopped
reading can neither block nor kill it. The agent keeps running, logging and serving clients.

One thread, one ``selectors`` loop (``reactor``), no periodic timers: an idle holder uses no
CPU. Clients are served by ``connections``, their requests handled by ``requests``; the command
line is parsed in ``holder_args``. It imports neither circus, zmq, click nor rich, and pyte only
once a screen is needed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from wzp_supervisor.session.holder_args import Options, parse_args
from wzp_supervisor.session.process import (
    StartError,
    exit_like,
    exit_now,
    quiet_std_streams,
    report,
)
from wzp_supervisor.session.reactor import Holder

__all__ = ["Holder", "Options", "main", "parse_args"]


def main(args: Sequence[str] | None = None) -> NoReturn:
    """Entry point of ``python -m wzp_supervisor.session.holder``."""
    quiet_std_streams()
    opts = parse_args(sys.argv[1:] if args is None else args)
    holder = Holder(opts)
    try:
        holder.start()
    except StartError as exc:
        message = f"wzp holder {opts.target}: {exc}"
        holder.note(message)
        report(message)
        listening = holder.listener is not None  # so the program itself could not start
        if listening:
            holder.remove_socket()
        exit_now(127 if listening else 1)
    exit_like(holder.run())


if __name__ == "__main__":
    main()

"""Adversarial table: does the supervisor keep its promises under load, crashes and hostile input?

Each row runs one scenario for real against the current code (real daemon, holders, agents,
sockets; temp XDG dirs; loopback only) and returns (what, figure, verdict). A verdict is
``held`` when every promise checked held, ``DEFECT: …`` when one broke (the daemon died, an
acknowledged change was lost, a duplicate or orphan process appeared, another user got in),
``skipped: …`` when the machine does not allow the scenario. Nothing is asserted: the table is
printed as markdown for a note.

Default sizes keep the whole run within a few minutes on 2 cores; ``--full`` uses the sizes of
the original adversarial run (100 agents, a SIGKILL every 200 ms for 60 s; 1,000 slowloris
connections). ``--only NAME[,NAME]`` runs some rows.

The rows live in ``trust_lifecycle``, ``trust_state``, ``trust_hub`` and ``trust_sessions``
(shared pieces in ``trust_common``, the sandbox in ``wzp_harness``).

Usage: ``.venv/bin/python bench/bench_trust.py [--full] [--only load,hub]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_common import Row, Sizes
from trust_hub import row_fd_limits, row_hub
from trust_lifecycle import (
    row_churn_crash,
    row_daemon_kill,
    row_down,
    row_leaks,
    row_load,
    row_reload_crash,
)
from trust_sessions import row_attach, row_names, row_other_user
from trust_state import row_corrupt_state, row_escapes, row_full_disk, row_secrets, row_tasks
from wzp_harness import install_exit_handlers, progress, raise_nofile

# -- main ----------------------------------------------------------------------------------

ROWS: dict[str, Callable[[Sizes], list[Row]]] = {
    "load": row_load,
    "churn": row_churn_crash,
    "daemon": row_daemon_kill,
    "reload": row_reload_crash,
    "state": row_corrupt_state,
    "hub": row_hub,
    "fds": row_fd_limits,
    "attach": row_attach,
    "users": row_other_user,
    "names": row_names,
    "down": row_down,
    "leaks": row_leaks,
    "disk": row_full_disk,
    "tasks": row_tasks,
    "escapes": row_escapes,
    "secrets": row_secrets,
}


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the original run's sizes")
    parser.add_argument("--only", default="", help=f"comma-separated rows of: {', '.join(ROWS)}")
    parser.add_argument(
        "--deadline", type=int, default=900, help="seconds before it stops (and cleans up)"
    )
    args = parser.parse_args()
    install_exit_handlers(args.deadline)
    sizes = Sizes(load_seconds=60.0) if args.full else Sizes()
    limit = raise_nofile(max(8192, sizes.slowloris * 2))
    chosen = [r for r in args.only.split(",") if r] or list(ROWS)
    print(
        f"# bench_trust  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
        f"load {os.getloadavg()[0]:.2f}  uid {os.getuid()}  ulimit -n {limit}  "
        f"sizes: {sizes.load_agents} agents x {sizes.load_seconds:g} s of kills every "
        f"{sizes.kill_interval * 1000:.0f} ms, {sizes.slowloris} slowloris, {sizes.tasks} tasks"
    )
    print()
    print("| scenario | figure | verdict | s (whole scenario) |")
    print("|---|---|---|---|")
    defects = []
    for name in chosen:
        start = time.perf_counter()
        progress(f"row {name}")
        try:
            rows = ROWS[name](sizes)
        except Exception as exc:  # one broken scenario must not hide the others
            rows = [(name, f"the scenario could not run: {type(exc).__name__}: {exc}", "error")]
        took = time.perf_counter() - start
        for what, figure, verdict in rows:
            print(f"| {md(what)} | {md(figure)} | {md(verdict)} | {took:.0f} |", flush=True)
            if verdict.startswith("DEFECT"):
                defects.append(what)
    print()
    print(f"defects: {', '.join(defects) if defects else 'none'}")


if __name__ == "__main__":
    main()

"""The descriptor budget: raising the soft limit, the hub's caps, agents per limit."""

from __future__ import annotations

import resource
import subprocess
import sys

from tests.conftest import REPO
from wzp_supervisor.fd_budget import (
    BASE_FDS,
    FDS_PER_AGENT,
    hub_connection_cap,
    max_agents_for_fd_limit,
    per_peer_connection_cap,
)

RAISE = (
    "import resource\n"
    "from wzp_supervisor.fd_budget import raise_nofile_limit\n"
    "print(raise_nofile_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
)


def _run_with_limit(soft: int, hard: int) -> list[int]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    result = subprocess.run(
        [sys.executable, "-c", RAISE],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        preexec_fn=limit,
        check=True,
    )
    return [int(word) for word in result.stdout.split()]


def test_raise_nofile_limit_lifts_the_soft_limit_to_the_hard_one() -> None:
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    assert _run_with_limit(64, hard) == [hard, hard, hard]
    assert _run_with_limit(hard, hard) == [hard, hard, hard]  # nothing to do


def test_max_agents_for_fd_limit() -> None:
    assert max_agents_for_fd_limit(0) == 0
    assert max_agents_for_fd_limit(-1) == 0
    assert max_agents_for_fd_limit(40) == 0
    assert max_agents_for_fd_limit(64) == 3
    assert max_agents_for_fd_limit(1024) == 108
    assert max_agents_for_fd_limit(4096) == 476
    assert max_agents_for_fd_limit(65536) == 8156
    for limit in (64, 256, 1024, 4096, 65536):
        agents = max_agents_for_fd_limit(limit)
        used = BASE_FDS + hub_connection_cap(limit) + agents * FDS_PER_AGENT
        assert used <= limit < used + FDS_PER_AGENT


def test_connection_caps() -> None:
    assert hub_connection_cap(64) == 8
    assert hub_connection_cap(1024) == 128
    assert hub_connection_cap(1 << 20) == 256
    assert per_peer_connection_cap(8) == 4
    assert per_peer_connection_cap(128) == 32
